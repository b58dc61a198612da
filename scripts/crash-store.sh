#!/usr/bin/env bash
# Durability under load, at length: ROUNDS (default 100) cycles of six senders posting events
# to the store host, SIGKILL mid-stream, PRAGMA integrity_check on the database as the kill
# left it, restart, and a check that every event acknowledged with 200 is in its customer's
# memory (and is recognised as a duplicate when replayed). Prints one report line:
#   crash-report: rounds=100 acknowledged=N lost=0 integrity_ok=100/100
# A lost event or a failed integrity check fails the run (exit 1) with the round and the ids.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-100}
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
export OMNIRULE_ABI_WASM="$PWD/target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"
OMNIRULE_CRASH_ROUNDS=$ROUNDS cargo test -q --workspace --test crash -- --nocapture 2>&1 \
  | grep -E 'crash-report|panicked|lost acknowledged|integrity' || { echo "crash run failed"; exit 1; }
