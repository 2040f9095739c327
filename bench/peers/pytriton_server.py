"""The Triton peer: PyTriton 0.7 (Triton Inference Server with the inference callable in this
process), the bench's models behind Triton's dynamic batcher with maas' batching policy
(max_batch_size and max_queue_delay_ms from each model's config.json), one onnxruntime thread.

`python pytriton_server.py REPOSITORY HTTP_PORT GRPC_PORT`, run with the interpreter of
bench/out/venvs/pytriton (bench/venvs.py), which sets LD_LIBRARY_PATH for Triton's Python
backend. Speaks KServe v2 over HTTP and gRPC, as maas' /v2 and gRPC infer do."""

import sys
from pathlib import Path

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig
from repository import BenchModel, bench_models, session


def infer_function(model: BenchModel):
    runner = session(model.path)
    names = [name for name, _, _ in model.outputs]

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, runner.run(names, inputs), strict=True))

    return infer


def bind(triton: Triton, model: BenchModel) -> None:
    triton.bind(
        model_name=model.name,
        infer_func=infer_function(model),
        inputs=[Tensor(name=n, dtype=d, shape=tuple(s)) for n, d, s in model.inputs],
        outputs=[Tensor(name=n, dtype=d, shape=tuple(s)) for n, d, s in model.outputs],
        config=ModelConfig(
            max_batch_size=model.max_batch_size,
            batcher=DynamicBatcher(max_queue_delay_microseconds=int(model.max_queue_delay_ms * 1000)),
        ),
        strict=False,
    )


def main() -> None:
    repository, http_port, grpc_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    config = TritonConfig(
        http_port=http_port,
        grpc_port=grpc_port,
        allow_metrics=False,  # no third port to find; Prometheus counters cost Triton little
        log_verbose=0,
    )
    with Triton(config=config) as triton:
        for model in bench_models(repository):
            bind(triton, model)
        triton.serve()


if __name__ == "__main__":
    main()
