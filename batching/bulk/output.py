"""A finished bulk job's output and errors, streamed from its chunk result files in input order:
one chunk in memory at a time, whatever the job's size.

JSONL: one line per input item, `{"id", "outputs"}` or `{"id", "error"}`. .npy / .npz: one row
per input row; a failed row holds NaN (floats) or 0 (integers): the errors list says which.
"""

import io
import zipfile
from collections.abc import Iterator

import numpy as np
import orjson

from batching.bulk.chunk import ChunkFile
from batching.bulk.record import BulkRecord, result_path
from maas.core.file_store import FileStore
from maas.core.signature import TensorSpec

_JSON = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE


def result_chunks(files: FileStore, record: BulkRecord) -> Iterator[ChunkFile]:
    for index in range(record.chunks or 0):
        with files.open_read(result_path(record.id, index)) as f:
            yield ChunkFile.decode(f.read())


def jsonl_output(files: FileStore, record: BulkRecord) -> Iterator[bytes]:
    for chunk in result_chunks(files, record):
        slices = chunk.slices()
        yield b"".join(
            orjson.dumps({"id": item_id, "error": chunk.errors[i].__dict__}, option=_JSON)
            if i in chunk.errors
            else orjson.dumps({"id": item_id, "outputs": slices[i]}, option=_JSON)
            for i, item_id in enumerate(chunk.ids)
        )


def error_lines(files: FileStore, record: BulkRecord) -> Iterator[bytes]:
    """One line per failed item: its client id, its position in the input (`row`), the reason."""
    first_item = 0
    for chunk in result_chunks(files, record):
        yield b"".join(
            orjson.dumps({"id": chunk.ids[i], "row": first_item + i, "error": e.__dict__}, option=_JSON)
            for i, e in chunk.errors.items()
        )
        first_item += len(chunk.ids)


def _layout(files: FileStore, record: BulkRecord, spec: TensorSpec) -> tuple[np.dtype, tuple]:
    """The output's dtype and row shape: from the first chunk with a result, else the signature."""
    for chunk in result_chunks(files, record):
        if spec.name in chunk.tensors:
            array = chunk.tensors[spec.name]
            return array.dtype, array.shape[1:]
    return spec.dtype, tuple(d or 1 for d in spec.shape[1:])


def npy_output(files: FileStore, record: BulkRecord, spec: TensorSpec) -> Iterator[bytes]:
    """One output as an .npy file of record.total rows (one row per input row)."""
    dtype, inner = _layout(files, record, spec)
    header = io.BytesIO()
    layout = {
        "descr": np.lib.format.dtype_to_descr(dtype),
        "fortran_order": False,
        "shape": (record.total, *inner),
    }
    np.lib.format.write_array_header_2_0(header, layout)
    yield header.getvalue()
    fill = np.nan if dtype.kind in "fc" else 0
    for chunk in result_chunks(files, record):
        rows = np.full((len(chunk.ids), *inner), fill, dtype)
        ok = [i for i in range(len(chunk.ids)) if i not in chunk.errors]
        if ok:
            rows[ok] = chunk.tensors[spec.name]
        yield rows.tobytes()


class _Pipe(io.RawIOBase):
    """A write-only, unseekable sink whose bytes are taken out as they come (zip streaming)."""

    def __init__(self):
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def npz_output(files: FileStore, record: BulkRecord, specs: tuple[TensorSpec, ...]) -> Iterator[bytes]:
    """Every output as an .npy member of a zip archive, written as it streams."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for spec in specs:
            with archive.open(f"{spec.name}.npy", "w", force_zip64=True) as member:
                for piece in npy_output(files, record, spec):
                    member.write(piece)
                    yield pipe.drain()
    yield pipe.drain()
