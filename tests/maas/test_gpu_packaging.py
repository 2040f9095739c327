"""The GPU packaging agrees with itself: the `gpu` extra, Dockerfile.gpu and docker-compose.yml's
`gpu` profile name the same onnxruntime-gpu and run workers on a GPU they reserve."""

import re
import tomllib

import yaml

from tests.conftest import REPO_ROOT


def gpu_extra() -> list[str]:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    return pyproject["project"]["optional-dependencies"]["gpu"]


def test_the_image_installs_the_onnxruntime_gpu_the_extra_pins():
    (pin,) = [dep for dep in gpu_extra() if dep.startswith("onnxruntime-gpu")]
    version = re.search(r"==([\d.]+)$", pin)
    assert version, f"the gpu extra must pin onnxruntime-gpu exactly, got {pin!r}"
    dockerfile = (REPO_ROOT / "Dockerfile.gpu").read_text()
    assert f"'onnxruntime-gpu=={version[1]}'" in dockerfile
    assert "pip uninstall -y onnxruntime" in dockerfile  # no CPU build left to shadow it


def test_the_gpu_profile_runs_gpu_workers_on_a_reserved_gpu():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["worker-gpu"]
    assert service["profiles"] == ["gpu"]
    assert service["build"]["dockerfile"] == "Dockerfile.gpu"
    assert service["command"][:1] == ["worker"] and "--device" in service["command"]
    (device,) = service["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    # The default `docker compose up` stays CPU-only.
    assert all("profiles" not in s for name, s in compose["services"].items() if name != "worker-gpu")
