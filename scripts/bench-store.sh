#!/usr/bin/env bash
# Load figures of the store host (edge-host/README.md): a release build of the host on
# 127.0.0.1 with a fresh data directory (SQLite WAL, synchronous=FULL: every 200 is durable)
# and the knitwear bundle, loaded by omnirule-store-load at several concurrencies. Bounded:
# EVENTS events or BENCH_SECONDS seconds per level, whichever comes first.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-20000}
BENCH_SECONDS=${BENCH_SECONDS:-20}
LEVELS=${LEVELS:-"1 4 16 64"}
CUSTOMERS=${CUSTOMERS:-2000}

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
cargo build -q --release -p omnirule-store --bins
mkdir -p target/tmp
work=$(mktemp -d target/tmp/bench-store.XXXXXX)
cargo run -q -p omnirule-cli -- build examples/02-knitwear-in-store -o "$work/knitwear.bundle" >/dev/null

target/release/omnirule-store --listen 127.0.0.1:0 --data-dir "$work/data" \
  --bundle "$work/knitwear.bundle" \
  --module target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm >"$work/out" 2>"$work/err" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 600); do
  grep -q '^listening on' "$work/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.1
done
addr=$(sed -n 's#^listening on http://##p' "$work/out")
[ -n "$addr" ] || { echo "the host did not start" >&2; cat "$work/err" >&2; exit 1; }

echo "machine: $(nproc) cores, $(uname -m), data on $(df -T "$work" | awk 'NR==2 {print $2}')"
sync_line=$(dd if=/dev/zero of="$work/dsync" bs=4k count=500 oflag=dsync 2>&1 | tail -n 1)
echo "disk: 500 synchronous 4 KiB writes (dd oflag=dsync): $sync_line"
echo "host: $addr, bundle examples/02-knitwear-in-store, $CUSTOMERS customers, events alternate page_view / beacon_enter"
for c in $LEVELS; do
  target/release/omnirule-store-load --addr "$addr" --events "$EVENTS" --seconds "$BENCH_SECONDS" \
    --concurrency "$c" --customers "$CUSTOMERS"
done
curl -s "http://$addr/metrics" 2>/dev/null | grep -E '^omnirule_(events_total|db_commits_total|db_rows_written_total|instances_created_total)' || true
