"""A version's files: its ONNX model's external data references, checked from the graph alone
(the weights stay on disk), and every file of the version directory accounted for.

A reference must be a plain relative path inside the version directory naming a regular file
that holds the bytes the tensor says (offset + length); every other file in the directory must
be one the model references, or the version's own files (config.json, version.json,
retired.json). A data file nothing references is refused: it would be stored and served as
part of the version while meaning nothing."""

from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import AttributeProto, GraphProto, TensorProto

from maas.core.errors import InvalidInputError
from maas.models.archive import member_path
from maas.models.store import CONFIG_FILE, METADATA_FILE, RETIRED_FILE

OWN_FILES = frozenset({CONFIG_FILE, METADATA_FILE, RETIRED_FILE})


def _reject(message: str) -> InvalidInputError:
    return InvalidInputError(f"file: {message}", ("file",))


def _attribute_tensors(attribute: AttributeProto) -> Iterator[TensorProto]:
    if attribute.HasField("t"):
        yield attribute.t
    yield from attribute.tensors
    if attribute.HasField("sparse_tensor"):
        yield attribute.sparse_tensor.values
    for graph in (*([attribute.g] if attribute.HasField("g") else []), *attribute.graphs):
        yield from graph_tensors(graph)


def graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    """Every tensor the graph holds: initializers, sparse ones, constants, subgraphs'."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attribute in node.attribute:
            yield from _attribute_tensors(attribute)


def _external(tensor: TensorProto) -> dict[str, str] | None:
    if tensor.data_location != TensorProto.EXTERNAL:
        return None
    return {entry.key: entry.value for entry in tensor.external_data}


def _required_bytes(tensor: TensorProto, fields: dict[str, str]) -> int:
    try:
        offset = int(fields.get("offset") or 0)
        length = int(fields["length"]) if "length" in fields else None
    except ValueError as e:
        raise _reject(f"tensor {tensor.name!r}: malformed external data offset or length") from e
    if offset < 0 or (length is not None and length < 0):
        raise _reject(f"tensor {tensor.name!r}: negative external data offset or length")
    return offset + (length or 0)


def referenced_files(model: onnx.ModelProto, folder: Path) -> set[str]:
    """The files the model's external data names, relative to `folder`, each checked."""
    needed: dict[str, int] = {}
    for tensor in graph_tensors(model.graph):
        fields = _external(tensor)
        if fields is None:
            continue
        location = fields.get("location", "")
        try:
            relative = str(member_path(location))
        except InvalidInputError as e:
            raise _reject(
                f"tensor {tensor.name!r}: external data {location!r} is not a plain path inside "
                "the version directory"
            ) from e
        needed[relative] = max(needed.get(relative, 0), _required_bytes(tensor, fields))
    for relative, size in sorted(needed.items()):
        _check_data_file(folder, relative, size)
    return set(needed)


def _check_data_file(folder: Path, relative: str, needed_bytes: int) -> None:
    path = folder / relative
    if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
        raise _reject(f"external data {relative!r} is a link or leaves the version directory")
    if not path.is_file():
        raise _reject(f"external data {relative!r} is missing from the version")
    if (size := path.stat().st_size) < needed_bytes:
        raise _reject(f"external data {relative!r} holds {size} bytes, the model reads up to {needed_bytes}")


def version_files(folder: Path) -> set[str]:
    """Every file under the version directory, relative, as POSIX paths."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def check_version_files(model_path: Path, referenced: set[str]) -> None:
    """Every file beside the model is one it references or one of the version's own."""
    folder = model_path.parent
    extra = version_files(folder) - referenced - OWN_FILES - {model_path.name}
    if extra:
        raise _reject(
            f"files {sorted(extra)} are not referenced by the model as external data; a version "
            "holds its model, the data files it references and its config.json only"
        )
