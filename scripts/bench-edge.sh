#!/usr/bin/env bash
# Cold start and per-request overhead of the edge worker in workerd (127.0.0.1, bounded).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f web/pkg/omnirule_bg.wasm ] || bash scripts/build-web.sh
cargo build -q -p omnirule-cli
# `npm install`, not `npm ci`: the lock pins workerd, but omits the other platforms' optional
# binaries, which `npm ci` then refuses as out of sync.
(cd edge-host/workerd && npm install --no-audit --no-fund --loglevel=error)
mkdir -p target
bundle=target/bench-edge.bundle
target/debug/omnirule build examples/10-o2o-loop -o "$bundle" >/dev/null
node edge-host/workerd/bench.mjs "$bundle" | tee target/bench-edge.md
