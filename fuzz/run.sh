#!/usr/bin/env bash
# Runs every fuzz target (or those named) for RUNS executions each, starting from the committed
# corpus and the seeds, then minimises the corpus (`cargo fuzz cmin`). Crashes land in
# fuzz/artifacts/TARGET/; each one fixed becomes a file in fuzz/regressions/TARGET/.
#
#   fuzz/run.sh                  # every target, 1,000,000 runs each
#   RUNS=100000 fuzz/run.sh dsl  # one target, fewer runs
#
# Built with debug assertions (so integer overflow panics) and no sanitizer: the code is safe
# Rust (`unsafe_code = "deny"`) and the bugs sought are panics (why, with the cost of ASan:
# docs/fuzzing.md).
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a nightly toolchain, or stable with
# RUSTC_BOOTSTRAP=1 (cargo fuzz passes -Z flags to rustc).
set -euo pipefail
cd "$(dirname "$0")"
RUNS=${RUNS:-1000000}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(dsl bundle memory_bytes memory_json json record track)
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q nightly; then toolchain=(+nightly); else export RUSTC_BOOTSTRAP=1; fi
cargo "${toolchain[@]}" fuzz build -O -a -s none
# The binaries are run directly: built once, so edits made meanwhile do not rebuild them.
bin="target/$(rustc -vV | sed -n 's/^host: //p')/release"
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "seeds/$t" "artifacts/$t"
  start=$(date +%s)
  "$bin/$t" "corpus/$t" "seeds/$t" \
    -artifact_prefix="artifacts/$t/" -runs="$RUNS" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    >"logs/$t.log" 2>&1 || { echo "$t: crashed, see fuzz/logs/$t.log and fuzz/artifacts/$t/"; continue; }
  secs=$(( $(date +%s) - start ))
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | grep -Eo '[0-9]+$' || echo "?")
  cov=$(grep -Eo 'cov: [0-9]+' "logs/$t.log" | tail -1 | grep -Eo '[0-9]+' || echo "?")
  before=$(ls "corpus/$t" | wc -l)
  # Minimise (what `cargo fuzz cmin` does): merge into an empty directory.
  mv "corpus/$t" "corpus/$t.full" && mkdir "corpus/$t"
  "$bin/$t" -merge=1 "corpus/$t" "corpus/$t.full" -max_len=4096 >"logs/$t.cmin.log" 2>&1
  rm -rf "corpus/$t.full"
  after=$(ls "corpus/$t" | wc -l)
  echo "$t: $execs executions in ${secs}s, coverage $cov, corpus $before -> $after files"
done
