"""Version aliases (`stable`, `canary`, ...) of a model, kept in the repository beside its
versions as <name>/aliases.json, so every process reading the repository sees the same ones."""

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from maas.errors import InvalidInputError, ModelNotFoundError

ALIASES_FILE = "aliases.json"
ALIAS_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RESERVED = {"latest"}


def check_alias(alias: str) -> None:
    if not ALIAS_PATTERN.match(alias) or alias in RESERVED:
        raise InvalidInputError(
            f"alias {alias!r}: 1-32 of a-z, 0-9, _ and -, starting with a letter; not 'latest'",
            ("alias",),
        )


class AliasStore:
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

    def set(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        """Points `alias` at `version` (None removes it); returns (before, after)."""
        check_alias(alias)
        with self._locked(name):
            aliases = self.read(name)
            before = aliases.get(alias)
            if version is None:
                aliases.pop(alias, None)
            else:
                aliases[alias] = version
            self._write(name, aliases)
        return before, version

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Serializes read-modify-write across processes sharing the repository."""
        with (self.root / name / ".aliases.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def _write(self, name: str, aliases: dict[str, int]) -> None:
        folder = self.root / name
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".aliases-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(dict(sorted(aliases.items())), f, indent=2)
        os.replace(temporary, folder / ALIASES_FILE)  # readers see the old file or the new one
