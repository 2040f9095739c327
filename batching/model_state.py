"""The model repository's shared state in Redis: aliases, their history, retire marks and version
numbers (maas.models.aliases.RepositoryState). Each change is one atomic script, and every API
process on every host reads the same keys, so a promotion is seen by the next lookup anywhere.
Model files stay on the shared file system, immutable per version.

Migration: the first time a process touches a model, the model's aliases.json and
alias_history.json (and its retired versions) are copied into Redis unless some process did so
before or Redis already holds the model's aliases (IMPORT_FILES is atomic); from then on Redis
is the truth and the files are no longer written. Synchronous: the registry runs in worker threads."""

import json
from collections.abc import Callable
from pathlib import Path

import redis

from batching import keys
from batching.model_scripts import IMPORT_FILES, MARK_RETIRED, NEXT_VERSION, ROLLBACK_ALIAS, SET_ALIAS
from maas.core.errors import ConflictError, ModelNotFoundError
from maas.models import store as model_store
from maas.models.aliases import HISTORY_DEPTH, AliasStore, check_alias


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisModelState:
    def __init__(self, client: redis.Redis, root: Path):
        self.client = client
        self.root = Path(root)
        self._files = AliasStore(self.root)
        self._imported: set[str] = set()  # models this process knows are in Redis

    def read(self, name: str) -> dict[str, int]:
        self._import(name)
        return {_text(a): int(v) for a, v in self.client.hgetall(keys.model_aliases(name)).items()}

    def resolve(self, name: str, alias: str) -> int:
        self._import(name)
        version = self.client.hget(keys.model_aliases(name), alias)
        if version is None:
            aliases = sorted(self.read(name))
            raise ModelNotFoundError(f"model {name!r} has no alias {alias!r} (aliases: {aliases})")
        return int(version)

    def history(self, name: str) -> dict[str, list[int]]:
        self._import(name)
        raw = self.client.hgetall(keys.model_alias_history(name))
        return {_text(a): [int(v) for v in json.loads(h)] for a, h in raw.items()}

    def set(self, name: str, alias: str, version: int | None) -> tuple[int | None, int | None]:
        check_alias(alias)
        self._import(name)
        done, before = SET_ALIAS.run_sync(
            self.client,
            **self._keys(name),
            alias=alias,
            version="" if version is None else str(version),
            depth=HISTORY_DEPTH,
        )
        if done == -1:
            raise ModelNotFoundError(f"model {name!r} version {version} is retired")
        return (int(before) if before else None), version

    def rollback(self, name: str, alias: str, is_servable: Callable[[int], bool]) -> tuple[int | None, int]:
        check_alias(alias)
        self._import(name)
        candidates = {v for versions in self.history(name).values() for v in versions}
        servable = [str(v) for v in sorted(candidates) if is_servable(v)]
        done, before, after = ROLLBACK_ALIAS.run_sync(
            self.client, **self._keys(name), alias=alias, servable=servable
        )
        if not done:
            raise ConflictError(f"alias {alias!r} of model {name!r} has no earlier version to roll back to")
        return (int(before) if before else None), int(after)

    def mark_retired(self, name: str, version: int) -> list[str]:
        self._import(name)
        pointing = MARK_RETIRED.run_sync(
            self.client,
            aliases=keys.model_aliases(name),
            retired=keys.model_retired(name),
            version=str(version),
        )
        return sorted(_text(a) for a in pointing)

    def next_version(self, name: str, highest_on_disk: int) -> int | None:
        last = keys.model_last_version(name)
        return int(NEXT_VERSION.run_sync(self.client, last=last, highest_on_disk=highest_on_disk))

    def _keys(self, name: str) -> dict[str, str]:
        return {
            "aliases": keys.model_aliases(name),
            "history": keys.model_alias_history(name),
            "retired": keys.model_retired(name),
        }

    def _import(self, name: str) -> None:
        if name in self._imported:
            return
        model_dir = self.root / name
        retired = [
            str(v)
            for v in model_store.numbered_versions(model_dir)
            if (model_dir / str(v) / model_store.RETIRED_FILE).exists()
        ]
        IMPORT_FILES.run_sync(
            self.client,
            imported=keys.model_imported(name),
            **self._keys(name),
            aliases_json=json.dumps(self._files.read(name)),
            history_json=json.dumps(self._files.history(name)),
            retired_versions=retired,
        )
        self._imported.add(name)
