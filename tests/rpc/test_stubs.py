"""The committed gRPC stubs are what the pinned grpcio-tools makes of the committed protos
(`make protos` regenerates them), and the OIP proto is the one Triton's client speaks."""

import shutil
import subprocess
import sys
from pathlib import Path

from google.protobuf import descriptor_pb2, descriptor_pool
from tritonclient.grpc import service_pb2 as triton_pb2

from tests.conftest import REPO_ROOT

STUBS = Path("api/rpc/stubs")
PROTOS = ("grpc_predict_v2.proto", "maas_jobs.proto")
GENERATED = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def test_committed_stubs_match_the_protos(tmp_path):
    for proto in PROTOS:
        (tmp_path / STUBS).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / STUBS / proto, tmp_path / STUBS / proto)
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", "--python_out=.", "--grpc_python_out=."]
    command += ["--pyi_out=.", *(str(STUBS / p) for p in PROTOS)]
    subprocess.run(command, cwd=tmp_path, check=True)
    for proto in PROTOS:
        for suffix in GENERATED:
            name = proto.removesuffix(".proto") + suffix
            fresh = (tmp_path / STUBS / name).read_text()
            assert (REPO_ROOT / STUBS / name).read_text() == fresh, f"{STUBS / name} is stale: `make protos`"


def test_the_oip_proto_is_wire_compatible_with_tritonclient(tmp_path):
    """Triton's proto is a superset of the OIP one: every message and field of ours has the same
    number and type there, and the service's methods take and return the same messages. Ours is
    read into a pool of its own (loading our stubs here would clash with Triton's in the default
    pool: both define package `inference`)."""
    out = tmp_path / "oip.pb"
    command = [sys.executable, "-m", "grpc_tools.protoc", "-I.", f"--descriptor_set_out={out}"]
    subprocess.run([*command, str(STUBS / PROTOS[0])], cwd=REPO_ROOT, check=True)
    pool = descriptor_pool.DescriptorPool()
    for proto in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:
        pool.Add(proto)
    ours = pool.FindFileByName(str(STUBS / PROTOS[0]))
    for name, message in ours.message_types_by_name.items():
        _same_fields(message, triton_pb2.DESCRIPTOR.message_types_by_name[name])
    theirs = triton_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"]
    for method in ours.services_by_name["GRPCInferenceService"].methods:
        twin = theirs.methods_by_name[method.name]
        assert (method.input_type.full_name, method.output_type.full_name) == (
            twin.input_type.full_name,
            twin.output_type.full_name,
        )


def _same_fields(ours, theirs) -> None:
    for field in ours.fields:
        twin = theirs.fields_by_name[field.name]
        assert (field.number, field.type) == (twin.number, twin.type), f"{ours.full_name}.{field.name}"
    for nested in ours.nested_types:
        _same_fields(nested, theirs.nested_types_by_name[nested.name])


def test_only_the_grpc_server_loads_our_inference_stubs():
    """Our `inference` package and tritonclient's cannot share protobuf's default pool, so the
    app and the CLI load the gRPC server by name, only where it serves (a fresh interpreter:
    this one may have imported anything)."""
    probe = (
        "import sys, api.app, maas.cli.app, api.rpc.stubs.maas_jobs_pb2, tritonclient.grpc;"
        "print('api.rpc.stubs.grpc_predict_v2_pb2' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
