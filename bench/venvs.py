"""Virtualenvs of the bench's peers, one each (their pins conflict with maas' and each other's),
created on first use under bench/out/venvs/ (git-ignored) with pip from the configured index.

A virtualenv is reused while its stamp file holds the same requirements; change a pin below and
the next run rebuilds it. `python bench/venvs.py [NAME ...]` builds them ahead of a run."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "out" / "venvs"
ONNXRUNTIME = "onnxruntime==1.32.0"  # the same inference library as maas' workers
REQUIREMENTS = {
    "pytriton": ["nvidia-pytriton==0.7.0", ONNXRUNTIME],
    # MLServer 1.7.1 fails to start with uvloop 0.22.
    "mlserver": ["mlserver==1.7.1", "uvloop<0.22", ONNXRUNTIME],
}
STAMP = ".bench-requirements"
INSTALL_TIMEOUT_S = 1800


class VenvError(RuntimeError):
    pass


def _base_python() -> str:
    """The interpreter maas' own virtualenv was made from (a venv of a venv would do too, but
    PyTriton's LD_LIBRARY_PATH must be that interpreter's LIBDIR)."""
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def python(name: str) -> Path:
    """The peer's interpreter, creating its virtualenv first if missing or stale."""
    if name not in REQUIREMENTS:
        raise VenvError(f"no virtualenv for {name!r}; known: {sorted(REQUIREMENTS)}")
    home = ROOT / name
    wanted = "\n".join(REQUIREMENTS[name]) + "\n"
    stamp = home / STAMP
    if stamp.exists() and stamp.read_text() == wanted:
        return home / "bin" / "python"
    shutil.rmtree(home, ignore_errors=True)
    print(f"  creating the {name} virtualenv in {home} (once; a few minutes)", flush=True)
    log = ROOT / f"{name}-install.log"
    ROOT.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        for command in (
            [_base_python(), "-m", "venv", str(home)],
            [str(home / "bin" / "pip"), "install", "--disable-pip-version-check", *REQUIREMENTS[name]],
        ):
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT_S)
            if done.returncode != 0:
                raise VenvError(f"{' '.join(command[:3])} failed; see {log}")
    stamp.write_text(wanted)
    return home / "bin" / "python"


def environment(name: str) -> dict[str, str]:
    """The environment a peer runs in. PyTriton's Python backend loads libpython from the
    library path: without the interpreter's LIBDIR there it fails with "'_thread.RLock' object
    has no attribute '_recursion_count'" (another libpython is found first)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # maas' checkout is nothing to the peer
    if name == "pytriton":
        libdir = sysconfig.get_config_var("LIBDIR")
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [libdir, env.get("LD_LIBRARY_PATH")]))
    return env


if __name__ == "__main__":
    for wanted_name in sys.argv[1:] or sorted(REQUIREMENTS):
        print(f"{wanted_name}: {python(wanted_name)}")
