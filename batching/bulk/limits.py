"""Caps on one bulk job's input: rows (JSONL lines, array rows) and bytes once decompressed.

A 249 KB deflated .npz can declare a million rows of zeros: what counts is what the file will
become, not what was uploaded. So the caps are checked where the file tells before anything is
decompressed (an .npy/.npz array's header declares its shape and dtype; a JSONL file is text,
its size and lines counted as it is stored), and again by the split task (with the rq worker's
settings), which reads array members only as far as their headers declare and counts JSONL rows
as it reads them, so a job past a cap fails (input_too_large) before more of it is fed.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from batching.bulk.arrays import ArrayColumn
from batching.bulk.chunk import ChunkFile
from maas.core.errors import InputTooLargeError, PayloadTooLargeError

COPY_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class InputLimits:
    max_rows: int
    max_bytes: int  # decompressed

    def check_rows(self, rows: int, where: str = "file") -> None:
        if rows > self.max_rows:
            raise InputTooLargeError(
                f"{where}: {rows} rows seen, past the limit of {self.max_rows} rows per bulk job "
                "(MAAS_BULK_MAX_ROWS); split the file",
                ("file",),
            )

    def check_bytes(self, size: int, where: str = "file") -> None:
        if size > self.max_bytes:
            raise InputTooLargeError(
                f"{where}: {size} bytes seen once decompressed, past the limit of "
                f"{self.max_bytes} bytes per bulk job (MAAS_BULK_MAX_INPUT_BYTES); split the file",
                ("file",),
            )

    def check_columns(self, columns: list[ArrayColumn]) -> None:
        """An .npy/.npz input's rows and decompressed bytes, as its array headers declare them."""
        rows = columns[0].rows
        self.check_rows(rows)
        self.check_bytes(rows * sum(c.row_bytes for c in columns))

    def copy_jsonl(self, source: BinaryIO, target: BinaryIO, upload_limit_bytes: int) -> int:
        """Copies a JSONL input in blocks, counting its bytes and lines (a line without its final
        newline counts too) as they pass: past a cap it stops at once. Returns the lines."""
        copied = lines = 0
        last = b"\n"
        while block := source.read(COPY_BLOCK_BYTES):
            copied += len(block)
            if copied > upload_limit_bytes:
                raise PayloadTooLargeError(f"the file exceeds the limit of {upload_limit_bytes} bytes")
            self.check_bytes(copied)
            lines += block.count(b"\n")
            last = block[-1:]
            self.check_rows(lines + (last != b"\n"))
            target.write(block)
        return lines + (last != b"\n")

    def counted(
        self, chunks: Iterator[tuple[ChunkFile, int]], first_item: int
    ) -> Iterator[tuple[ChunkFile, int]]:
        """The chunks of a JSONL split, refused once they pass the row cap (items from first_item)."""
        for chunk, offset in chunks:
            first_item += len(chunk.ids)
            self.check_rows(first_item)
            yield chunk, offset
