#!/usr/bin/env bash
# Load figures of the store host (edge-host/README.md, docs/performance.md): a release build of
# the host on 127.0.0.1 with a fresh data directory (SQLite WAL, synchronous=FULL: every 200 is
# durable) and the knitwear bundle, loaded with wrk (scripts/bench-store.lua: a fresh event id
# per request, 2,000 customers, page_view / beacon_enter) for BENCH_SECONDS per concurrency.
#
#   LEVELS="1 4 16 64"  concurrencies (connections)     BENCH_SECONDS=20  per level
#   CUSTOMERS=2000                                      STORE_BIN=path    another host binary
#                                                                         (no build; e.g. an
#                                                                         older commit's)
# Installs wrk (Debian: apt-get install wrk) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCH_SECONDS=${BENCH_SECONDS:-20}
LEVELS=${LEVELS:-"1 4 16 64"}
CUSTOMERS=${CUSTOMERS:-2000}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

if ! command -v wrk >/dev/null; then
  echo "installing wrk (apt-get install wrk)"
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y wrk >/dev/null || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else sudo apt-get install -y wrk >/dev/null; fi
fi

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
if [ -n "${STORE_BIN:-}" ]; then
  store=$STORE_BIN
else
  cargo build -q --release -p omnirule-store --bins
  store=$TARGET_DIR/release/omnirule-store
fi
mkdir -p "$TARGET_DIR/tmp"
work=$(mktemp -d "$TARGET_DIR/tmp/bench-store.XXXXXX")
cargo run -q -p omnirule-cli -- build examples/02-knitwear-in-store -o "$work/knitwear.bundle" >/dev/null

token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
OMNIRULE_ADMIN_TOKEN=$token RUST_LOG=${RUST_LOG:-info} "$store" --listen 127.0.0.1:0 --data-dir "$work/data" \
  --bundle "$work/knitwear.bundle" ${STORE_ARGS:-} \
  --module "$TARGET_DIR/wasm32-unknown-unknown/wasm/omnirule_abi.wasm" >"$work/out" 2>"$work/err" &
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
echo "host: $store on $addr, bundle examples/02-knitwear-in-store, $CUSTOMERS customers, wrk $BENCH_SECONDS s per level"
printf '%-12s %12s %10s %10s %10s %10s\n' concurrency events/s p50_ms p90_ms p99_ms non-2xx
for c in $LEVELS; do
  threads=$((c < 2 ? 1 : 2))
  out=$(wrk -t "$threads" -c "$c" -d "${BENCH_SECONDS}s" --timeout 10s --latency \
    -s scripts/bench-store.lua "http://$addr" -- "c$c-$RANDOM" "$CUSTOMERS" "$token")
  rate=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
  ms() { # wrk prints 512.00us, 1.23ms or 1.02s
    awk -v p="$1" '$1 == p {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out"
  }
  bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  errors=$(grep -E 'Socket errors' <<<"$out" || true)
  printf '%-12s %12.0f %10s %10s %10s %10s %s\n' "$c" "$rate" "$(ms 50%)" "$(ms 90%)" "$(ms 99%)" "${bad:-0}" "$errors"
done
curl -s -H "Authorization: Bearer $token" "http://$addr/metrics" 2>/dev/null |
  grep -E '^(omnirule_(events_total|db_commits_total|db_rows_written_total|instances_created_total)|process_cpu_seconds_total)' || true
