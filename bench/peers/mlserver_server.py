"""The MLServer peer: MLServer 1.7 with a custom runtime that runs the bench's ONNX models in
onnxruntime (one intra-op thread), behind MLServer's adaptive batching with maas' batching
policy (max_batch_size and max_queue_delay_ms from each model's config.json). Everything else is
MLServer's default (one parallel inference worker process), except debug mode (access logs) off.

`python mlserver_server.py REPOSITORY HTTP_PORT GRPC_PORT`, run with the interpreter of
bench/out/venvs/mlserver (bench/venvs.py): writes MLServer's settings beside the repository and
execs `mlserver start` on them. Speaks KServe v2 over HTTP and gRPC."""

import json
import os
import socket
import sys
from pathlib import Path

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from repository import bench_models, session

HERE = Path(__file__).resolve().parent


class OnnxRuntime(MLModel):
    """One ONNX model; `parameters.uri` is its model.onnx."""

    async def load(self) -> bool:
        self.session = session(Path(self.settings.parameters.uri))
        self.output_names = [o.name for o in self.session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        outputs = [NumpyCodec.encode_output(n, r) for n, r in zip(self.output_names, results, strict=True)]
        return InferenceResponse(model_name=self.name, outputs=outputs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_settings(repository: Path, http_port: int, grpc_port: int) -> Path:
    root = repository.parent / "mlserver"
    root.mkdir(exist_ok=True)
    settings = {
        "debug": False,
        "host": "127.0.0.1",
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": free_port(),
        "load_models_at_startup": True,
    }
    (root / "settings.json").write_text(json.dumps(settings))
    for model in bench_models(repository):
        (root / model.name).mkdir(exist_ok=True)
        model_settings = {
            "name": model.name,
            "implementation": "mlserver_server.OnnxRuntime",
            "max_batch_size": model.max_batch_size,
            "max_batch_time": model.max_queue_delay_ms / 1000,  # seconds
            "parameters": {"uri": str(model.path)},
        }
        (root / model.name / "model-settings.json").write_text(json.dumps(model_settings))
    return root


def main() -> None:
    repository, http_port, grpc_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    root = write_settings(repository, http_port, grpc_port)
    # The runtime is this module: the parallel worker imports it through PYTHONPATH.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    mlserver = Path(sys.executable).parent / "mlserver"
    os.execv(mlserver, [str(mlserver), "start", str(root)])


if __name__ == "__main__":
    main()
