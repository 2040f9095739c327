#!/usr/bin/env bash
# The suite's Redis-facing tests against Valkey instead of Redis: `make test-valkey
# VALKEY_BIN=/path/with/valkey-server` (Valkey is in neither Debian 12's packages nor PyPI: build
# it from its source, `make BUILD_TLS=no`, and point VALKEY_BIN at its src/ folder). Every test
# finds its server as redis-server, redis-cli and redis-sentinel on PATH, so those names are
# linked to Valkey's binaries in a temporary folder put first on PATH. Extra arguments go to pytest.
set -euo pipefail
: "${VALKEY_BIN:?set VALKEY_BIN to the folder holding valkey-server and valkey-cli}"
links="$(mktemp -d)"
trap 'rm -rf "$links"' EXIT
ln -s "$VALKEY_BIN/valkey-server" "$links/redis-server"
ln -s "$VALKEY_BIN/valkey-server" "$links/redis-sentinel"  # valkey-server runs as a sentinel by this name
ln -s "$VALKEY_BIN/valkey-cli" "$links/redis-cli"
PATH="$links:$PATH" redis-server --version | grep -q '^Valkey' || { echo "not Valkey: $VALKEY_BIN" >&2; exit 2; }
[ $# -gt 0 ] || set -- tests/batching tests/api tests/worker tests/rpc tests/system
PATH="$links:$PATH" "${PYTHON:-.venv/bin/python}" -m pytest -q "$@"
