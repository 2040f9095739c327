"""The naive peer: FastAPI + onnxruntime, one inference per request, no queue and no batching.

`python naive_server.py REPOSITORY PORT` serves POST /v1/jobs with maas' body (`model`,
`inputs`) and answers `{"status": "succeeded", "outputs": {...}}`, so the bench's wrk script
counts it as it counts maas. The session has one intra-op thread, as a maas worker's has.
"""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import orjson
import uvicorn
from fastapi import FastAPI, Request, Response
from repository import bench_models, session


def sessions(repository: Path) -> dict[str, tuple[ort.InferenceSession, str, np.dtype]]:
    loaded = {}
    for model in bench_models(repository):
        name, dtype, _ = model.inputs[0]
        loaded[model.name] = (session(model.path), name, dtype)
    return loaded


def create_app(repository: Path) -> FastAPI:
    models = sessions(repository)
    app = FastAPI()

    @app.post("/v1/jobs")
    async def job(request: Request) -> Response:
        body = orjson.loads(await request.body())
        runner, name, dtype = models[body["model"]]
        outputs = runner.run(None, {name: np.asarray(body["inputs"], dtype=dtype)})
        names = [o.name for o in runner.get_outputs()]
        answer = {"status": "succeeded", "outputs": dict(zip(names, outputs, strict=True))}
        return Response(
            orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
        )

    return app


if __name__ == "__main__":
    uvicorn.run(create_app(Path(sys.argv[1])), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
