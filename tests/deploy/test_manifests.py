"""deploy/: the rendered manifests are valid for the target Kubernetes version
(kubernetes-validate), the KEDA objects valid against KEDA's CRD schema (vendored in
deploy/schemas/), and probes, grace periods, labels and the backlog metrics the KEDA triggers
query agree with the code."""

import copy
import re

import jsonschema
import kubernetes_validate
import pytest
import yaml

from api.routes import health
from api.services.metrics import queue_families
from batching.queue_state import QueueState
from maas.core.settings import Settings
from tests.deploy.rendering import DEPLOY, REPO_ROOT, by_kind, containers, environment, render

TARGET_KUBERNETES = "1.34.0"
KEDA_KINDS = {"ScaledObject"}
WORKLOADS = ("maas-api", "maas-worker-digits", "maas-rq-worker")


@pytest.fixture(scope="module", params=["base", "trial"])
def documents(request) -> list[dict]:
    return render(DEPLOY / request.param)


def strict(schema):
    """The CRD schema refusing unknown fields where it lists the known ones (as the API server's
    field validation does), so a misspelt field fails here rather than being dropped."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            if not schema.get("x-kubernetes-preserve-unknown-fields"):
                schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [strict(v) for v in schema]
    return schema


def keda_schema(kind: str) -> dict:
    crd = yaml.safe_load((DEPLOY / "schemas" / "keda.sh_scaledobjects.yaml").read_text())
    assert crd["spec"]["names"]["kind"] == kind
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))


def test_every_manifest_is_valid_for_the_target_kubernetes(documents):
    for document in documents:
        if document["kind"] not in KEDA_KINDS:
            kubernetes_validate.validate(document, TARGET_KUBERNETES, strict=True)


def test_keda_objects_are_valid_against_the_vendored_crd(documents):
    scaled = [d for d in documents if d["kind"] in KEDA_KINDS]
    assert scaled
    for document in scaled:
        jsonschema.validate(document, keda_schema(document["kind"]))
        assert document["apiVersion"] == "keda.sh/v1alpha1"


def test_an_unknown_keda_field_is_refused():
    bad = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x"}}
    bad["spec"] = {"scaleTargetRef": {"name": "x"}, "triggers": [], "minReplicas": 0}
    with pytest.raises(jsonschema.ValidationError, match="minReplicas"):
        jsonschema.validate(bad, keda_schema("ScaledObject"))


def test_settings_in_the_manifests_are_real_and_grace_outlasts_the_drain(documents, monkeypatch):
    deployments = by_kind(documents, "Deployment")
    for name in WORKLOADS:
        pod = deployments[name]["spec"]["template"]["spec"]
        env = environment(documents, pod["containers"][0])
        known = {f"MAAS_{field.upper()}" for field in Settings.model_fields}
        unknown = {v for v in env if v.startswith("MAAS_")} - known
        assert not unknown, f"{name}: no such settings {unknown}"
        for variable, value in env.items():
            monkeypatch.setenv(variable, value)
        settings = Settings()
        assert pod["terminationGracePeriodSeconds"] > settings.drain_timeout_s + 5, name


def test_api_probes_ask_the_api_itself_not_the_workers(documents):
    api = next(c for _, c in containers(documents) if c["name"] == "api")
    env = environment(documents, api)
    paths = {route.path for route in health.router.routes}
    port = {p["name"]: p["containerPort"] for p in api["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = api[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["path"] in paths, probe  # /readyz wants a worker
        assert port[get["port"]] == int(env["MAAS_PORT"])


def test_worker_probes_watch_the_ready_file_the_worker_touches(documents):
    worker = next(c for _, c in containers(documents) if c["name"] == "worker")
    env = environment(documents, worker)
    ready_file = env["MAAS_WORKER_READY_FILE"]
    assert worker["startupProbe"]["exec"]["command"] == ["test", "-f", ready_file]
    liveness = worker["livenessProbe"]["exec"]["command"][-1]
    assert ready_file in liveness
    stale_after_s = int(liveness.rsplit("-lt", 1)[1])
    assert stale_after_s >= 10 * float(env["MAAS_HEARTBEAT_INTERVAL_S"])  # not on one late beat


def test_selectors_labels_and_pools_agree(documents):
    deployments, services = by_kind(documents, "Deployment"), by_kind(documents, "Service")
    for deployment in deployments.values():
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    api_labels = deployments["maas-api"]["spec"]["template"]["metadata"]["labels"]
    for selecting in (services["maas-api"], by_kind(documents, "PodDisruptionBudget")["maas-api"]):
        selector = selecting["spec"].get("selector", {})
        selector = selector.get("matchLabels", selector)
        assert selector.items() <= api_labels.items()
        pods = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployments.items()}
        others = [labels for n, labels in pods.items() if n != "maas-api"]
        assert all(not selector.items() <= labels.items() for labels in others)


# What each lane kind's trigger may read: gauges the API exports from Redis. Online: the lane's
# `:rows` counter, across every tenant's sub-stream (tests/api/test_metrics_endpoint.py checks
# that with two tenants); bulk: its chunk entries waiting or being scored.
TRIGGER_METRICS = {
    "online": {"maas_lane_rows_queued"},
    "bulk": {"maas_lane_entries_waiting", "maas_lane_entries_pending"},
}
SELECTOR = re.compile(r"(maas_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|=)\s*"([^"]*)"')


def selectors(query: str) -> list[tuple[str, dict[str, str]]]:
    """(metric, {label: value}) of each series selector of a PromQL query; `=~` alternatives
    become one value per alternative, joined by '|' as written."""
    found = []
    for metric, matchers in SELECTOR.findall(query):
        found.append((metric, {label: value for label, _, value in MATCHER.findall(matchers)}))
    return found


def test_each_pool_scales_on_the_backlog_of_every_version_and_tenant(documents):
    deployments = by_kind(documents, "Deployment")
    exported = {family.name for family in queue_families(QueueState([], [], {}, 0.0))}
    for scaled in by_kind(documents, "ScaledObject").values():
        target = deployments[scaled["spec"]["scaleTargetRef"]["name"]]
        assert target["metadata"]["labels"]["maas.dev/pool"] == scaled["metadata"]["labels"]["maas.dev/pool"]
        assert scaled["spec"]["minReplicaCount"] == 0  # scale to zero, and back on the backlog
        assert scaled["spec"]["fallback"]["replicas"] >= 1  # metrics lost: not stuck at zero
        env = environment(documents, target["spec"]["template"]["spec"]["containers"][0])
        models = set(yaml.safe_load(env["MAAS_WORKER_MODELS"]))
        triggers = scaled["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"prometheus"}
        assert len({t["metadata"]["serverAddress"] for t in triggers}) == 1
        lanes_covered = set()
        for trigger in triggers:
            query = trigger["metadata"]["query"]
            assert trigger["metadata"]["ignoreNullValues"] == "false"  # an outage is an error
            # Every API pod reports the same gauge: one pod's value per lane, never their sum.
            assert query.startswith("sum(max by (model, version, lane) (")
            for metric, labels in selectors(query):
                assert metric in exported, metric
                assert set(labels["model"].split("|")) == models, query
                assert "version" not in labels and "tenant" not in labels, query  # all of them
                assert metric in TRIGGER_METRICS[labels["lane"]], query
                lanes_covered.add(labels["lane"])
        assert lanes_covered == set(TRIGGER_METRICS)


def test_every_container_runs_as_non_root_on_a_read_only_root(documents):
    for pod, container in containers(documents):
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        if container["image"].startswith("maas"):
            dockerfile = (REPO_ROOT / "Dockerfile").read_text()
            assert f"USER {pod['securityContext']['runAsUser']}:" in dockerfile
