"""Who may import whom (DESIGN.md): walks every module's imports and fails on a violation."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("maas", "api", "batching", "worker", "export")
# What each package may import of ours. The core `maas` (settings, errors, registry) is shared;
# maas.cli.app and maas.cli.supervisor are the entry point, which alone may start api and worker
# (and checks Redis credentials with batching.connection before it starts either).
ALLOWED = {
    "batching": {"batching", "maas"},
    "api": {"api", "batching", "maas"},
    "worker": {"worker", "batching", "maas"},
    "export": {"export", "maas"},
    "maas": {"maas"},
}
ENTRY_POINTS = {"maas/cli/app.py": {"maas", "api", "worker", "batching", "export"}}
HEAVY_IN_WORKER = {"tensorflow", "keras", "tf2onnx", "fastapi", "uvicorn"}


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, at module level) for every import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(name.split(".")[0], node.lineno, id(node) in top_level) for name in names]
    return found


def our_modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path


def test_packages_import_only_what_the_design_allows():
    violations = []
    for package, path in our_modules():
        relative = str(path.relative_to(ROOT))
        allowed = ENTRY_POINTS.get(relative, ALLOWED[package])
        for module, line, _ in imports_of(path):
            if module in PACKAGES and module not in allowed:
                violations.append(f"{relative}:{line} imports {module}")
    assert not violations, violations


def test_no_imports_hidden_inside_functions():
    hidden = [
        f"{path.relative_to(ROOT)}:{line} {module}"
        for _, path in our_modules()
        for module, line, top in imports_of(path)
        if not top
    ]
    assert not hidden, hidden


def test_the_worker_needs_no_web_framework_or_tensorflow():
    heavy = [
        f"{path.relative_to(ROOT)} imports {module}"
        for package, path in our_modules()
        if package in ("worker", "batching")
        for module, _, _ in imports_of(path)
        if module in HEAVY_IN_WORKER
    ]
    assert not heavy, heavy
