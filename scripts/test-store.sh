#!/usr/bin/env bash
# The store host's tests: builds the engine's wasm module (no imports), then runs the tests of
# the ABI crate (abi/) and of the host (edge-host/: HTTP API, SIGKILL crash, limits, equality
# with the native engine). Ends with `N passed, M failed`. For working on the store alone:
# `scripts/test.sh` (CI) runs these tests inside `cargo test --workspace`, whose feature set
# differs from this two-package selection, so running both compiles wasmtime twice.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

echo "== engine wasm module (omnirule-abi, profile wasm)"
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
export OMNIRULE_ABI_WASM="$PWD/target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"
ls -l "$OMNIRULE_ABI_WASM"

echo "== tests: omnirule-abi, omnirule-store"
mkdir -p target
set +e
cargo test -q -p omnirule-abi -p omnirule-store 2>&1 | tee target/store-test.log
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' target/store-test.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/store-test.log | awk '{s+=$1} END {print s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a build error or a crashed test binary counts as a failure
fi
printf '\n%s passed, %s failed\n' "$passed" "$failed"
exit "$status"
