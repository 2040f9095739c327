"""Completion announcements on the wire: written by Lua (batching.jobs.scripts), read here.

A *record* is an ended job's fields and values in HGETALL's order, each as
`<decimal length>:<bytes>`; it is left out (empty) when over ANNOUNCED_RECORD_MAX_BYTES
(batching.jobs.scripts), and the waiter then reads the job. An ended record is never empty (it
holds its status), so an empty one always means "not carried".

A *single* announcement (a job ended alone: cancel, expiry, any TRANSITION), on the slot's
keys.job_events channel, the form of every release before batch frames:

    <job id>                   record not carried
    <job id>\\n<record>

A *batch frame* (the jobs one FINISH call ended, one slot's), on the slot's keys.job_ends
channel:

    *( <job id> <record length>)...\\n<record><record>...

`*`, then per job a space, its id, a space and its record's length in bytes (0: not carried),
then one newline, then the records back to back in the same order. Ids and decimal lengths hold
neither space nor newline, so the header ends at the first newline and splits on spaces whatever
bytes the records hold, and a record is found by the lengths before it: a listener parses only
the records of the jobs it waits on. A frame starts with `*`, which no job id does, so either
form can be read without knowing its channel. Lengths are checked against the frame before any
record is handed out.
"""

from collections.abc import Container

from maas.core.ids import BASE_LENGTH, base_of

Fields = dict[bytes, bytes]
FRAME_MARK = b"*"


def parse_record(data: bytes, start: int = 0, end: int | None = None) -> Fields:
    """The fields of the record in data[start:end]; ValueError when it is not one (a length that
    is not a decimal, runs past the record or backwards, or a field without its value)."""
    end = len(data) if end is None else end
    items: list[bytes] = []
    append, index = items.append, data.index  # bound once: this loop is a waiter's whole cost
    at = start
    while at < end:
        colon = index(b":", at, end)
        at = colon + 1 + int(data[at:colon])
        if at <= colon:
            raise ValueError("announced record: a negative length")
        append(data[colon + 1 : at])
    if at != end or len(items) % 2:
        raise ValueError(
            f"announced record: items end at byte {at - start} of {end - start}, or a field lacks its value"
        )
    pairs = iter(items)
    return dict(zip(pairs, pairs, strict=True))


def waited_ends(data: bytes, waited: Container[str]) -> list[tuple[str, Fields | None]]:
    """(base id, record or None when not carried) of each job announced in `data` whose base id
    (maas.core.ids.base_of) is in `waited`; the others' records are skipped unread."""
    if not data.startswith(FRAME_MARK):
        single_id, _, record = data.partition(b"\n")
        base = base_of(single_id.decode())
        return [(base, parse_record(record) if record else None)] if base in waited else []
    head, _, records = data.partition(b"\n")
    items = head.decode().split(" ")
    if len(items) % 2 == 0:
        raise ValueError("batch frame: a job id without its record's length")
    spans: list[tuple[str, int, int]] = []
    at = 0
    for job_id, length in zip(items[1::2], items[2::2], strict=True):
        size = int(length)
        if size < 0:
            raise ValueError(f"batch frame: job {job_id} has a negative record length")
        # A frame's ids are job ids (the records' own), whose first 26 characters are their base.
        if job_id[:BASE_LENGTH] in waited:
            spans.append((job_id[:BASE_LENGTH], at, at + size))
        at += size
    if at != len(records):
        raise ValueError(f"batch frame: its lengths add up to {at} bytes, its records are {len(records)}")
    return [(base, parse_record(records, start, end) if end > start else None) for base, start, end in spans]


def announced_ids(data: bytes) -> list[str]:
    """Every job id an announcement of either form names, in order."""
    if not data.startswith(FRAME_MARK):
        return [data.partition(b"\n")[0].decode()]
    return data.partition(b"\n")[0].decode().split(" ")[1::2]


def record_bytes(fields: Fields | None) -> bytes:
    """A record as Lua writes it (b"" for one not carried)."""
    return b"".join(b"%d:%s" % (len(item), item) for pair in (fields or {}).items() for item in pair)


def batch_frame(ends: list[tuple[str, Fields | None]]) -> bytes:
    """The frame Lua publishes for these (job id, record or None) ends: the reference encoder,
    against which tests hold the script's output byte for byte."""
    records = [record_bytes(fields) for _, fields in ends]
    head = "".join(f" {job_id} {len(record)}" for (job_id, _), record in zip(ends, records, strict=True))
    return FRAME_MARK + head.encode() + b"\n" + b"".join(records)
