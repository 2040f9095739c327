"""Writes a new version of a model into the repository, atomically: readers see the whole version
directory or none of it, and two writers racing for the same number both succeed, one taking the
next number."""

import json
import os
import shutil
import tempfile
from pathlib import Path

from maas.errors import InvalidInputError
from maas.registry import CONFIG_FILE, MODEL_SUFFIXES, valid_name

_MAX_ATTEMPTS = 100


def next_version(model_dir: Path) -> int:
    """One more than the highest version directory, whether or not it holds a model yet."""
    taken = [int(p.name) for p in model_dir.iterdir() if p.name.isdigit()] if model_dir.is_dir() else []
    return max(taken, default=0) + 1


def add_version(
    root: Path,
    name: str,
    model_file: Path,
    config: dict | None = None,
    extras: dict[str, bytes] | None = None,
) -> int:
    """Copies `model_file` (its suffix picks the runtime) as <root>/<name>/<next>/model<suffix>,
    with config.json and `extras` (file name -> bytes) beside it; returns the version number."""
    model_file = Path(model_file)
    if not valid_name(name):
        raise InvalidInputError(f"model name {name!r}: 1-64 of A-Z, a-z, 0-9, _, . and -", ("name",))
    if model_file.suffix not in MODEL_SUFFIXES:
        raise InvalidInputError(
            f"{model_file.name}: a model file must end in one of {sorted(MODEL_SUFFIXES)}", ("model",)
        )
    model_dir = Path(root) / name
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=model_dir, prefix=".incoming-"))
    try:
        _fill(staging, model_file, config, extras or {})
        return _publish(staging, model_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fill(staging: Path, model_file: Path, config: dict | None, extras: dict[str, bytes]) -> None:
    reserved = {CONFIG_FILE} | {f"model{suffix}" for suffix in MODEL_SUFFIXES}
    clashing = sorted(set(extras) & reserved)
    bad_names = [n for n in extras if Path(n).name != n or n.startswith(".")]
    if clashing or bad_names:
        raise InvalidInputError(f"extra files {clashing + bad_names}: reserved or not a plain name")
    shutil.copyfile(model_file, staging / f"model{model_file.suffix}")
    if config is not None:
        (staging / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    for file_name, content in extras.items():
        (staging / file_name).write_bytes(content)
    os.chmod(staging, 0o755)  # mkdtemp makes it 0700; the version is for every reader


def _publish(staging: Path, model_dir: Path) -> int:
    # mkdir claims a number atomically (the loser of a race gets FileExistsError and tries the
    # next); the claimed directory is empty, so the registry ignores it, and rename(2) then
    # swaps the full version in at once (it may replace an empty directory).
    for _ in range(_MAX_ATTEMPTS):
        version = next_version(model_dir)
        try:
            (model_dir / str(version)).mkdir()
        except FileExistsError:
            continue
        staging.rename(model_dir / str(version))
        return version
    raise OSError(f"{model_dir}: no free version number after {_MAX_ATTEMPTS} attempts")
