"""Bulk input in .npy (one array, single-input models) and .npz (one array per input name):
headers checked against the model's signature, rows read in blocks, never the whole array.

An .npz member is decompressed as it streams, and only as far as its header declares (rows x row
bytes): what a header declares is what batching/bulk/limits.py caps, so a member that holds more
than it says is never inflated past that.
"""

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

import numpy as np

from batching.bulk.chunk import ChunkFile
from maas.core.errors import InvalidInputError
from maas.core.signature import Signature, TensorSpec

MAX_NPZ_MEMBERS = 1024  # an .npz holds one array per model input; more is not an input


@dataclass
class ArrayColumn:
    """One input's array in a file: where its rows start and how they are laid out."""

    name: str
    stream: IO[bytes]  # a file, or a member of an .npz archive
    dtype: np.dtype  # as stored
    want: np.dtype  # as the model takes it
    inner: tuple[int, ...]
    rows: int
    data_start: int

    @property
    def row_bytes(self) -> int:
        return self.dtype.itemsize * int(np.prod(self.inner, dtype=np.int64))

    def read(self, start: int, count: int) -> np.ndarray:
        self.stream.seek(self.data_start + start * self.row_bytes)
        data = self.stream.read(count * self.row_bytes)
        if len(data) != count * self.row_bytes:
            raise InvalidInputError(f"{self.name}: the file is truncated at row {start}", (self.name,))
        # No copy when the file holds what the model takes (the rows are only read).
        return np.frombuffer(data, self.dtype).reshape(count, *self.inner).astype(self.want, copy=False)


def _header(stream: IO[bytes], where: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(stream)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(stream)
    except ValueError as e:
        raise InvalidInputError(f"{where}: not a readable .npy array: {e}", (where,)) from e
    raise InvalidInputError(f"{where}: .npy format version {version} is not supported", (where,))


def _castable(have: np.dtype, want: np.dtype) -> bool:
    if have == want:
        return True
    if want.kind == "f":
        return have.kind in "iuf"
    return have.kind == want.kind and np.can_cast(have, want, "same_kind")


def column(name: str, stream: IO[bytes], spec: TensorSpec, where: str) -> ArrayColumn:
    """The column of one array file, checked against its input's spec (422 with what and where)."""
    shape, fortran, dtype = _header(stream, where)
    loc = (where,)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InvalidInputError(f"{where}: dtype {dtype} is not numeric", loc)
    if not _castable(dtype, spec.dtype):
        raise InvalidInputError(f"{where}: dtype {dtype} cannot be read as {spec.dtype.name}", loc)
    fits = len(shape) == len(spec.shape) and all(
        want is None or want == got for want, got in zip(spec.shape[1:], shape[1:], strict=True)
    )
    if not fits:
        raise InvalidInputError(f"{where}: expected shape {spec.describe_shape()}, got {list(shape)}", loc)
    if shape[0] < 1:
        raise InvalidInputError(f"{where}: the array has no rows", loc)
    if fortran and len(shape) > 1:
        raise InvalidInputError(f"{where}: Fortran-ordered arrays are not supported; save C order", loc)
    return ArrayColumn(name, stream, dtype, spec.dtype, tuple(shape[1:]), shape[0], stream.tell())


def npy_columns(stream: BinaryIO, signature: Signature) -> list[ArrayColumn]:
    if len(signature.inputs) != 1:
        names = [spec.name for spec in signature.inputs]
        raise InvalidInputError(
            f"file: a .npy file holds one array, but the model takes {len(names)} inputs {names}; "
            "send an .npz with one array per input",
            ("file",),
        )
    spec = signature.inputs[0]
    return [column(spec.name, stream, spec, "file")]


def npz_columns(archive: zipfile.ZipFile, signature: Signature) -> list[ArrayColumn]:
    if len(archive.infolist()) > MAX_NPZ_MEMBERS:
        raise InvalidInputError(f"file: the .npz holds more than {MAX_NPZ_MEMBERS} members", ("file",))
    members = {n.removesuffix(".npy"): n for n in archive.namelist() if n.endswith(".npy")}
    expected = [spec.name for spec in signature.inputs]
    missing = [name for name in expected if name not in members]
    extra = [name for name in members if name not in expected]
    if missing or extra:
        raise InvalidInputError(
            f"file: the .npz holds arrays {sorted(members)}, the model takes {expected}", ("file",)
        )
    columns = [
        column(spec.name, archive.open(members[spec.name]), spec, f"file.{spec.name}")
        for spec in signature.inputs
    ]
    rows = {c.name: c.rows for c in columns}
    if len(set(rows.values())) > 1:
        raise InvalidInputError(f"file: every array needs the same number of rows, got {rows}", ("file",))
    return columns


def open_npz(stream: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(stream)
    except zipfile.BadZipFile as e:
        raise InvalidInputError(f"file: not a readable .npz archive: {e}", ("file",)) from e


def chunk_bounds(
    columns: list[ArrayColumn], start_row: int, chunk_rows: int, max_bytes: int
) -> Iterator[tuple[int, int]]:
    """(first row, rows) of each chunk from start_row on: chunk_rows rows, or fewer when they
    would take more than max_bytes."""
    total = columns[0].rows
    chunk_rows = max(1, min(chunk_rows, max_bytes // max(1, sum(c.row_bytes for c in columns))))
    for start in range(start_row, total, chunk_rows):
        yield start, min(chunk_rows, total - start)


def rows_chunk(columns: list[ArrayColumn], index: int, start: int, count: int) -> ChunkFile:
    """Rows [start, start + count) as chunk `index`: each row one item, its id its row number."""
    tensors = {c.name: c.read(start, count) for c in columns}
    return ChunkFile(index, list(range(start, start + count)), [1] * count, {}, tensors)


def check_length(column: ArrayColumn, size: int) -> None:
    """The file holds every row its header declares (`size`: the file's clear size)."""
    if size < column.data_start + column.rows * column.row_bytes:
        raise InvalidInputError(
            f"{column.name}: the file is truncated: its header declares {column.rows} rows", (column.name,)
        )


def array_chunks(
    columns: list[ArrayColumn], start_row: int, index: int, chunk_rows: int, max_bytes: int
) -> Iterator[tuple[ChunkFile, int]]:
    """(chunk, the row after it) from start_row on (see chunk_bounds)."""
    for start, count in chunk_bounds(columns, start_row, chunk_rows, max_bytes):
        yield rows_chunk(columns, index, start, count), start + count
        index += 1
