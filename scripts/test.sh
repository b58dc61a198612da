#!/usr/bin/env bash
# Sets up and runs every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints (engine and dsl libraries: no unwrap/expect/panic/indexing)"
cargo clippy -q -p omnirule-engine -p omnirule-dsl -p omnirule-cli --lib --bins -- -D warnings

step "engine builds for wasm32-unknown-unknown (no parser, no std I/O)"
cargo build -q -p omnirule-engine --target wasm32-unknown-unknown
if cargo tree -p omnirule-engine --target wasm32-unknown-unknown -e normal | grep -Eq 'pest|omnirule-dsl'; then
  echo "engine depends on the parser: it must not" >&2
  exit 1
fi

step "unit, property, golden and integration tests"
cargo test -q --workspace 2>&1 | tee target/cargo-test.log
cargo_passed=$(grep -Eo '[0-9]+ passed' target/cargo-test.log | awk '{s+=$1} END {print s+0}')

step "conformance vectors: up to date, and native agrees with every expectation"
python3 tests/vectors/generate.py --check
vectors=target/vectors
rm -rf "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- prepare "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- native "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- check "$vectors" | tee target/vectors-check.log

step "examples: formatted, and their test blocks pass"
cargo run -q -p omnirule-cli -- fmt --check examples/*/
cargo run -q -p omnirule-cli -- test examples/*/ | tee target/examples-test.log
examples_passed=$(tail -n 1 target/examples-test.log | grep -Eo '^[0-9]+')

printf '\n%s passed, 0 failed\n' "$((cargo_passed + examples_passed))"
