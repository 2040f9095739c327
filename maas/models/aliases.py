"""Version aliases (`stable`, `canary`, ...) of a model, their history, retire marks and version
numbers: the repository's shared state beside its immutable version files.

`RepositoryState` is what the registry needs of it. `AliasStore` keeps it in files beside the
versions (<name>/aliases.json, alias_history.json, written under flock: one host, or a laptop
without Redis, e.g. `maas export --register`); `batching.model_state.RedisModelState` keeps it
in Redis, atomic and seen by every API process on every host at once (what the API uses)."""

import fcntl
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from maas.core.errors import ConflictError, InvalidInputError, ModelNotFoundError
from maas.models import store as model_store

ALIASES_FILE = "aliases.json"
HISTORY_FILE = "alias_history.json"  # alias -> the versions it pointed to before, oldest first
HISTORY_DEPTH = 20
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RESERVED = {"latest"}


def check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias) or alias in RESERVED:
        raise InvalidInputError(
            f"alias {alias!r}: 1-32 of a-z, 0-9, _ and -, starting with a letter; not 'latest'",
            ("alias",),
        )


class RepositoryState(Protocol):
    def read(self, name: str) -> dict[str, int]: ...

    def resolve(self, name: str, alias: str) -> int: ...

    def history(self, name: str) -> dict[str, list[int]]: ...

    def set(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]: ...

    def rollback(
        self, name: str, alias: str, is_servable: Callable[[int], bool]
    ) -> tuple[int | None, int]: ...

    def mark_retired(self, name: str, version: int) -> list[str]:
        """Marks `version` retired unless aliases point to it; returns those aliases (none:
        marked). Atomic with `set`, so no alias ever points to a retired version."""
        ...

    def next_version(self, name: str, highest_on_disk: int) -> int | None:
        """A version number never handed out before, above `highest_on_disk`; None: the caller
        numbers under the model directory's lock (files)."""
        ...


class AliasStore:
    """The state in files, read-modify-written under flock by callers that also hold the model
    directory's lock for retire (one host: flock is not reliable on network file systems)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def read(self, name: str) -> dict[str, int]:
        path = self.root / name / ALIASES_FILE
        if not path.is_file():
            return {}
        return {alias: int(version) for alias, version in json.loads(path.read_text()).items()}

    def resolve(self, name: str, alias: str) -> int:
        aliases = self.read(name)
        if alias not in aliases:
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r} (aliases: {sorted(aliases)})")
        return aliases[alias]

    def history(self, name: str) -> dict[str, list[int]]:
        path = self.root / name / HISTORY_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def set(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        """Points `alias` at `version` (None removes it); returns (before, after). The version it
        pointed to before is remembered, for rollback."""
        check_alias(alias)
        with self._locked(name):
            aliases = self.read(name)
            before = aliases.get(alias)
            if before is not None and before != version:
                history = self.history(name)
                history[alias] = [*history.get(alias, []), before][-HISTORY_DEPTH:]
                self._write(name, HISTORY_FILE, history)
            self._point(name, aliases, alias, version)
        return before, version

    def rollback(self, name: str, alias: str, is_servable) -> tuple[int | None, int]:
        """Points `alias` back at the newest version it pointed to before that is still
        servable (`is_servable(version)`); returns (before, after)."""
        check_alias(alias)
        with self._locked(name):
            aliases, history = self.read(name), self.history(name)
            previous = history.get(alias, [])
            while previous and not is_servable(previous[-1]):
                previous.pop()
            if not previous:
                raise ConflictError(
                    f"alias {alias!r} of model {name!r} has no earlier version to roll back to"
                )
            before, after = aliases.get(alias), previous.pop()
            history[alias] = previous
            self._write(name, HISTORY_FILE, history)
            self._point(name, aliases, alias, after)
        return before, after

    def mark_retired(self, name: str, version: int) -> list[str]:
        return sorted(a for a, v in self.read(name).items() if v == version)

    def next_version(self, name: str, highest_on_disk: int) -> int | None:
        return None

    def _point(self, name: str, aliases: dict[str, int], alias: str, version: int | None) -> None:
        if version is None:
            aliases.pop(alias, None)
        else:
            aliases[alias] = version
        self._write(name, ALIASES_FILE, dict(sorted(aliases.items())))

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Serializes read-modify-write across processes sharing the repository."""
        with (self.root / name / ".aliases.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, name: str, filename: str, value: dict) -> None:
        model_store.write_json(self.root / name / filename, value)
