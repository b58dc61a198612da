#!/usr/bin/env bash
# The fleet's figures (docs/fleet.md, docs/performance.md), on 127.0.0.1:
#  1. events/s and latency through one store host, alone and in a fleet (a nats-server hub with
#     JetStream; every event reads the fleet's view before deciding and queues a fold), with
#     scripts/bench-store.sh at concurrency 1 and 64;
#  2. the time from a web event (the online node's 200) to a store deciding on it, p50/p99;
#  3. the catch-up after a cut with 10,000 events queued at the store (1,000 and 10,000
#     customers).
# The load runs use STORE_BIN (default: the dev-profile host the tests build, so wasmtime is
# built once; docs/fleet.md's figures used STORE_BIN=target/release/omnirule-store after
# `cargo build --release -p omnirule-store`). BENCH_SECONDS (default 10) per level; LEVELS
# (default "1 64").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export BENCH_SECONDS=${BENCH_SECONDS:-10} LEVELS=${LEVELS:-"1 64"}
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
cargo build -q --workspace --bins --tests
export OMNIRULE_ABI_WASM="$PWD/target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"
export NATS_SERVER="$PWD/target/tools/nats-server"
export STORE_BIN="${STORE_BIN:-$PWD/target/debug/omnirule-store}"

work=$(mktemp -d target/tmp/bench-fleet.XXXXXX)
"$NATS_SERVER" -js -a 127.0.0.1 -p -1 -sd "$work/hub" 2>"$work/nats.log" &
nats=$!
trap 'kill "$nats" 2>/dev/null || true; wait "$nats" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do
  grep -q 'Listening for client connections' "$work/nats.log" && break
  sleep 0.1
done
url="nats://$(sed -n 's/.*Listening for client connections on //p' "$work/nats.log" | head -n 1)"

echo "== the store host alone"
STORE_ARGS="" bash scripts/bench-store.sh
echo
echo "== the store host in a fleet ($url)"
# The hub's CPU during the run, from /proc (clock ticks), beside the host's own
# (process_cpu_seconds_total, printed by bench-store.sh): on this machine they share the cores.
ticks() { awk '{print $14 + $15}' "/proc/$nats/stat"; }
before=$(ticks)
STORE_ARGS="--fleet $url --site bench-store" bash scripts/bench-store.sh
echo "nats-server cpu seconds during the run: $(awk -v a="$before" -v b="$(ticks)" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.1f", (b - a) / hz}')"
echo
for customers in 1000 10000; do
  echo "== web event to store decision; catch-up after a cut (10,000 events, $customers customers)"
  FLEET_QUEUED_CUSTOMERS=$customers cargo test -q --workspace --test fleet figures -- --ignored --nocapture 2>&1 |
    grep '^FLEET_FIGURES'
done
