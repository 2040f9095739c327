"""Uploading a TFLite model: validated (a truncated file, or ONNX content named .tflite, is
refused) and served by the LiteRT runtime."""

from tests.support.model_versions import finished, snapshot, upload
from tests.support.processes import REPO_ROOT


async def test_a_tflite_upload_is_validated_and_served(api, worker, model_repo, tmp_path):
    demo = REPO_ROOT / "models" / "digits" / "3" / "model.tflite"  # int8
    created = await upload(api, "digits", demo)
    assert created.status_code == 201, created.text
    assert created.json()["runtime"] == "litert"
    row = [[float(v) for v in range(16)] * 4]
    response = await api.post(
        "/v1/jobs", json={"model": "digits", "inputs": row}, headers={"Prefer": "wait=10"}
    )
    job = await finished(api, response.json())
    assert job["version"] == created.json()["version"] and job["status"] == "succeeded", job
    probabilities = next(iter(job["outputs"].values()))[0]
    assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 0.05

    truncated = tmp_path / "model.tflite"
    truncated.write_bytes(demo.read_bytes()[:4096])
    before = snapshot(model_repo)
    refused = await upload(api, "digits", truncated)
    assert refused.status_code == 422 and "TFLite" in refused.json()["error"]["message"], refused.text
    onnx_named_tflite = tmp_path / "other.tflite"
    onnx_named_tflite.write_bytes((model_repo / "digits" / "1" / "model.onnx").read_bytes())
    refused = await upload(api, "digits", onnx_named_tflite)
    assert refused.status_code == 422 and "content is a .onnx model" in refused.json()["error"]["message"]
    assert snapshot(model_repo) == before
