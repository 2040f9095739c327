"""Which model repository `maas serve` serves: by default a copy of `models/` under its state
directory, so uploads, aliases and retirements made through the API (as the README's examples
do) never write into a checkout's tracked `models/` folder."""

import logging
import os
import shutil
from pathlib import Path

from maas.core.settings import Settings

log = logging.getLogger(__name__)
SERVED_COPY = "models"


def seed_copy(source: Path, target: Path) -> None:
    """Copies `source` to `target` once: built under a hidden name and renamed into place, so a
    start killed halfway leaves no half copy to be served later. Hidden files (locks, staging)
    are not copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging, ignore=shutil.ignore_patterns(".*"))
    try:
        staging.rename(target)
    except OSError:  # another `maas serve` seeded it first: serve that one
        shutil.rmtree(staging, ignore_errors=True)


def served_repository(settings: Settings) -> Settings:
    """The settings with the repository `maas serve` serves: the one given (--model-repository
    or MAAS_MODEL_REPOSITORY) as is; else `<state_dir>/models`, seeded from the default
    repository on first start (a default repository that does not exist is served as before)."""
    source = settings.model_repository
    if "model_repository" in settings.model_fields_set or not source.is_dir():
        return settings
    target = settings.state_dir / SERVED_COPY
    if not target.exists():
        seed_copy(source, target)
        log.info("copied %s to %s, which maas serve serves and changes", source, target)
    log.info("serving models from %s (--model-repository %s serves the original)", target, source)
    return settings.model_copy(update={"model_repository": target})
