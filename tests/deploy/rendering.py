"""deploy/ rendered as kustomize would, for the plain kustomizations it holds: `resources` only
(files and directories with a kustomization.yaml), so no kustomize binary is needed here. A
kustomization using anything else fails the test rather than being rendered wrongly."""

from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
SUPPORTED = {"apiVersion", "kind", "resources"}


def render(directory: Path) -> list[dict]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    assert not unsupported, f"{directory}: this renderer only knows {sorted(SUPPORTED)}: {unsupported}"
    documents: list[dict] = []
    for resource in kustomization["resources"]:
        path = (directory / resource).resolve()
        if path.is_dir():
            documents += render(path)
        else:
            documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def containers(documents: list[dict]) -> list[tuple[dict, dict]]:
    """(pod spec, container) of every workload."""
    pods = [d["spec"]["template"]["spec"] for d in documents if d["kind"] in ("Deployment", "StatefulSet")]
    return [(pod, c) for pod in pods for c in pod["containers"]]


def environment(documents: list[dict], container: dict) -> dict[str, str]:
    """The MAAS_* variables a container gets: its ConfigMaps', then its own."""
    config_maps = by_kind(documents, "ConfigMap")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
    env.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    return env
