#!/usr/bin/env bash
# Sets up and runs the edge worker's tests in real workerd (127.0.0.1 only).
# Expects web/pkg (scripts/build-web.sh); builds the CLI and installs workerd from npm.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f web/pkg/omnirule_bg.wasm ]; then
  bash scripts/build-web.sh
fi
cargo build -q -p omnirule-cli
# `npm install`, not `npm ci`: the lock pins workerd, but omits the other platforms' optional
# binaries, which `npm ci` then refuses as out of sync.
(cd edge-host/workerd && npm install --no-audit --no-fund --loglevel=error)
log=target/edge-test.log
mkdir -p target
set +e
node --test --test-reporter=spec edge-host/workerd/test/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^ℹ pass [0-9]+' "$log" | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '^ℹ fail [0-9]+' "$log" | grep -Eo '[0-9]+' || echo 0)
echo "${passed} passed, ${failed} failed"
exit "$status"
