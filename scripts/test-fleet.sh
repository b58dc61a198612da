#!/usr/bin/env bash
# The fleet's tests on 127.0.0.1: a NATS JetStream hub (nats-server, installed by
# scripts/setup.sh), three store hosts and the online node, each with its own data directory;
# the O2O journey through them, bundle rollout, deletion fleet-wide, privacy, a store cut from
# the hub (a TCP proxy) and SIGKILLed during the cut, then the heal; and the sync protocol's
# property test over random interleavings. Ends with `N passed, M failed`.
#
# The tests are in edge-host/tests/fleet.rs and edge-host/src/fleet.rs; they are built with the
# workspace's features (as scripts/test.sh builds everything), so wasmtime compiles once.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
export OMNIRULE_ABI_WASM="$PWD/target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"
export NATS_SERVER="$PWD/target/tools/nats-server"
mkdir -p target
set +e
cargo test -q --workspace --test fleet 2>&1 | tee target/fleet-test.log
status=${PIPESTATUS[0]}
cargo test -q --workspace --lib -- fleet:: 2>&1 | tee -a target/fleet-test.log
lib=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '[0-9]+ passed' target/fleet-test.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/fleet-test.log | awk '{s+=$1} END {print s+0}')
if { [ "$status" -ne 0 ] || [ "$lib" -ne 0 ]; } && [ "$failed" -eq 0 ]; then
  failed=1
fi
printf '\n%s passed, %s failed\n' "$passed" "$failed"
[ "$status" -eq 0 ] && [ "$lib" -eq 0 ]
