"""The floor under maas' gRPC infer: the server CPU of one unary call of grpc.aio (the server
maas runs beside uvicorn) when the method does nothing but echo its bytes, under the same kind
of closed-loop load as bench/grpc_load.py (client processes, calls in flight).

    python bench/grpc_floor.py [--processes 4] [--in-flight 16] [--duration 8]

Compare its `server CPU ms per call` with the API's CPU per gRPC infer in `make bench`: what is
left above it is maas' own work per call (auth, the job's submit and wait, the tensor codec).
"""

import argparse
import asyncio
import multiprocessing
import time

import grpc
from cpu import tree_cpu_s

from maas.cli.redis_server import free_port

METHOD = "/floor.Echo/Call"
PAYLOAD = bytes(300)  # about a single-row demo ModelInferRequest


def _echo(request: bytes, context) -> bytes:
    return request


async def _serve(port: int, ready, stop) -> None:
    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        "floor.Echo", {"Call": grpc.unary_unary_rpc_method_handler(_echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    await server.stop(None)


def serve(port: int, ready, stop) -> None:
    asyncio.run(_serve(port, ready, stop))


async def _load(port: int, in_flight: int, duration_s: float) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.unary_unary(METHOD)
        deadline = time.monotonic() + duration_s
        done = 0

        async def loop() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                await call(PAYLOAD)
                done += 1

        await asyncio.gather(*(loop() for _ in range(in_flight)))
        return done


def load(port: int, in_flight: int, duration_s: float, results) -> None:
    results.put(asyncio.run(_load(port, in_flight, duration_s)))


def cpu_s(pid: int) -> float:
    return sum(tree_cpu_s(pid).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    port = free_port()
    ctx = multiprocessing.get_context("spawn")
    ready, stop, results = ctx.Event(), ctx.Event(), ctx.Queue()
    server = ctx.Process(target=serve, args=(port, ready, stop))
    server.start()
    ready.wait(30)
    clients = [
        ctx.Process(target=load, args=(port, args.in_flight, args.duration, results))
        for _ in range(args.processes)
    ]
    before, started = cpu_s(server.pid), time.monotonic()
    for client in clients:
        client.start()
    calls = sum(results.get() for _ in clients)
    wall_s, server_s = time.monotonic() - started, cpu_s(server.pid) - before
    for client in clients:
        client.join()
    stop.set()
    server.join()
    print(
        f"grpc.aio echo: {calls / wall_s:,.0f} calls/s, server CPU {server_s * 1000 / calls:.3f} ms per call "
        f"({args.processes} client processes x {args.in_flight} in flight, {wall_s:.1f} s)"
    )


if __name__ == "__main__":
    main()
