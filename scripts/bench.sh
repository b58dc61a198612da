#!/usr/bin/env bash
# The benchmark suite, side by side with the peers (../shared/peers), on one machine:
#   scripts/bench.sh            # Omnirule (native, wasmtime, Node) + the peers at N=1000 (~10 min)
#   scripts/bench.sh --no-peers # Omnirule only
# Prints the tables and writes them to target/bench/results.md. Never run in CI: figures need an
# idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS:-../shared/peers}
work=${PEERS_DIR:-/tmp/omnirule-peers}
data="$work/bench/data"
bash scripts/setup.sh
if [ ! -f "$data/events.json" ]; then
  # The peers' seeded generator writes the shared workload next to itself: run it from a copy.
  mkdir -p "$work/bench"
  cp "$peers/gen.mjs" "$work/bench/"
  node "$work/bench/gen.mjs"
fi
# The engine's wasm module, for the store host's (wasmtime) column.
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
cargo build -q --release -p omnirule-bench
[ -f web/pkg/omnirule_bg.wasm ] || bash scripts/build-web.sh
out=target/bench/results.md
mkdir -p target/bench
{
  echo "# Omnirule benchmarks — $(date -u +%Y-%m-%d), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo
  ./target/release/omnirule-bench run "$data"
  echo
  node bench/node.mjs "$data"
  echo
  # What logging exposures adds to an event, native and in Node (the same rules).
  ./target/release/omnirule-bench exposures
  echo
  cargo run -q --release -p omnirule-cli -- build bench/exposures.rules -o target/bench/exposures.bundle >&2
  cargo run -q --release -p omnirule-cli -- build examples/10-o2o-loop -o target/bench/o2o.bundle >&2
  node bench/node-exposures.mjs target/bench/exposures.bundle target/bench/o2o.bundle
} | tee "$out"
if [ "${1:-}" != "--no-peers" ]; then
  echo "running the peers at N=1000 (their own harness; about 10 minutes)..."
  bash "$peers/run-peers.sh" --ns 1000 --skip-conc | tail -n 40 | tee -a "$out"
fi
