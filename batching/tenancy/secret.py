"""The server secret API keys are hashed with: MAAS_KEY_HASH_SECRET, else one generated once and
kept (mode 0600) under the state directory, so that `maas serve` and `maas keys create
--bootstrap` on the same host agree without configuration."""

import os
import secrets
from pathlib import Path

from maas.core.settings import Settings

FILE_NAME = "key_hash_secret"


def key_hash_secret(settings: Settings) -> bytes:
    if settings.key_hash_secret:
        return settings.key_hash_secret.encode()
    path = Path(settings.state_dir) / FILE_NAME
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = path.with_name(f".{FILE_NAME}.{os.getpid()}")
        descriptor = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as f:
            f.write(secrets.token_urlsafe(48))
        try:
            os.link(fresh, path)  # the first process to create it wins; the rest read its secret
        except FileExistsError:
            pass
        finally:
            fresh.unlink()
    return path.read_text().strip().encode()
