#!/usr/bin/env bash
# Sets up and runs every test. CI runs exactly this (.ci/run). The last line sums every suite:
# `N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

step() { printf '\n== %s\n' "$*"; }
total=0
# Adds the "N passed" of a suite's last line to the total.
count() { total=$((total + $(tail -n 1 "$1" | grep -Eo '^[0-9]+' || echo 0))); }
mkdir -p target
# A clean checkout builds once: incremental caches would only take disk (gigabytes of it).
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

step "format"
cargo fmt --all -- --check

step "lints (library code: no unwrap/expect/panic/indexing; tests lint-clean too)"
cargo clippy -q -p omnirule-text -p omnirule-engine -p omnirule-dsl -p omnirule-cli -p omnirule-web -p omnirule-abi \
  -p omnirule-tests -p omnirule-store -p omnirule-report --all-targets -- -D warnings

step "engine builds for wasm32-unknown-unknown (no parser, no time zone database, no std I/O)"
cargo build -q -p omnirule-engine --target wasm32-unknown-unknown
# The browser bundle carries only the evaluator: neither the engine nor the text crate under it
# may reach the parser (pest, omnirule-dsl) or the compiler's time zone database (jiff).
for crate in omnirule-engine omnirule-text; do
  if cargo tree -p "$crate" --target wasm32-unknown-unknown -e normal | grep -Eq 'pest|omnirule-dsl|jiff'; then
    echo "$crate depends on the parser or jiff: it must not" >&2
    cargo tree -p "$crate" --target wasm32-unknown-unknown -e normal | grep -E 'pest|omnirule-dsl|jiff' >&2
    exit 1
  fi
done

step "the engine as a core wasm module for the store host (omnirule-abi)"
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
export OMNIRULE_ABI_WASM="$PWD/target/wasm32-unknown-unknown/wasm/omnirule_abi.wasm"

step "Rust: unit, property, golden, integration and store-host tests"
cargo test -q --workspace 2>&1 | tee target/cargo-test.log
total=$((total + $(grep -Eo '[0-9]+ passed' target/cargo-test.log | awk '{s+=$1} END {print s+0}')))
# The binaries later steps run, built with the features `cargo test --workspace` resolved (all
# up to date after it). `cargo run -p`/`cargo build -p` on the store would resolve features
# for that one package and compile wasmtime a second time; the demo's set-up skips its own
# builds when OMNIRULE_PREBUILT names these.
cargo build -q --workspace --bins --tests
export OMNIRULE_PREBUILT="$PWD/target/debug"

step "examples: formatted, and their test blocks pass (with the CLI as \`cargo install --path cli\` installs it)"
# The README's install line, into target/install (a debug build sharing this target
# directory, so nothing is compiled twice); the examples are then checked with what it installed.
CARGO_TARGET_DIR="$PWD/target" cargo install -q --path cli --debug --locked --offline --root target/install
target/install/bin/omnirule fmt --check examples/*/
target/install/bin/omnirule test examples/*/ | tee target/examples-test.log
count target/examples-test.log

step "browser package and playground: Node and headless Chromium"
bash scripts/test-web.sh --with-compiler | tee target/web-test.log
count target/web-test.log

step "edge worker in workerd"
bash scripts/test-edge.sh | tee target/edge-test-summary.log
count target/edge-test-summary.log

step "conformance vectors on five runtimes"
python3 tests/vectors/generate.py --check
vectors=target/vectors
rm -rf "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- prepare "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- native "$vectors"
node tests/vectors/runners/node.mjs "$vectors"
node tests/vectors/runners/chromium.mjs "$vectors"
node tests/vectors/runners/workerd.mjs "$vectors"
"$OMNIRULE_PREBUILT/omnirule-store-vectors" "$vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- check "$vectors" | tee target/vectors-check.log
total=$((total + $(grep -Eo '[0-9]+/[0-9]+ vectors passed' target/vectors-check.log | cut -d/ -f1 | awk '{s+=$1} END {print s+0}')))

step "differential fuzzer: random rule sets and events, native vs Node vs wasmtime"
# Bounded here; the long mode is FUZZ_COUNT=20000 FUZZ_SEED=$RANDOM scripts/test.sh (or the same
# four commands by hand). A disagreement is minimised into tests/vectors/found/.
fuzz=target/fuzz
rm -rf "$fuzz"
# A fresh seed each run, printed so that a failure can be replayed with FUZZ_SEED=...
FUZZ_SEED=${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "differential fuzzer seed: FUZZ_SEED=$FUZZ_SEED (${FUZZ_COUNT:-200} rule sets)"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- fuzz "$fuzz" "$FUZZ_SEED" "${FUZZ_COUNT:-200}"
export OMNIRULE_VECTORS="$fuzz/vectors"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- prepare "$fuzz"
cargo run -q -p omnirule-tests --bin omnirule-vectors -- native "$fuzz"
node tests/vectors/runners/node.mjs "$fuzz"
"$OMNIRULE_PREBUILT/omnirule-store-vectors" "$fuzz"
if ! cargo run -q -p omnirule-tests --bin omnirule-vectors -- check "$fuzz" | tee target/fuzz-check.log; then
  for f in "$fuzz"/vectors/*.json; do
    cargo run -q -p omnirule-tests --bin omnirule-vectors -- minimise "$fuzz" "$f" || break
  done
  exit 1
fi
unset OMNIRULE_VECTORS
total=$((total + $(grep -Eo '[0-9]+/[0-9]+ vectors passed' target/fuzz-check.log | cut -d/ -f1 | awk '{s+=$1} END {print s+0}')))

step "the fleet: a NATS JetStream hub, three stores and the online node on 127.0.0.1"
# (Also inside `cargo test --workspace` above, so not counted again.)
bash scripts/test-fleet.sh | tee target/fleet-summary.log

if [ -f scripts/test-o2o.sh ]; then
  step "the O2O journey across the runtimes"
  bash scripts/test-o2o.sh | tee target/o2o-test.log
  count target/o2o-test.log
fi

printf '\n%s passed, 0 failed\n' "$total"
