#!/usr/bin/env bash
# The system programs the test suite drives, installed from Debian's packages when missing:
# promtool (`prometheus`: the /metrics exposition and the alert rules, tests/system/test_metrics.py
# and tests/deploy/), chromium (the dashboard's browser test), redis-sentinel (the failover
# test) and redis-cli (`redis-cli --cluster create`, the Redis Cluster tests). `make test` runs this first, so a fresh machine needs nothing installed by hand.
set -euo pipefail
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium chromium-driver)
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
echo "installing ${missing[*]} (apt)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
