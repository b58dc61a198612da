#!/usr/bin/env bash
# Instructions per evaluated event (native, callgrind): the figure that does not move with the
# machine's speed, so a change to the evaluator can be held to it. For each rule count, counts
# a run with P passes over the shared workload's 10,000 events and one with none (the same
# loading, parsing and warm-up), and divides the difference by P × events.
#   scripts/bench-instructions.sh            # 10, 100 and 1,000 rules, P = 2
# Needs valgrind and the peers' workload generator (../shared/peers, as scripts/bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
peers=${PEERS:-../shared/peers}
work=${PEERS_DIR:-/tmp/omnirule-peers}
data="$work/bench/data"
if [ ! -f "$data/events.json" ]; then
  mkdir -p "$work/bench"
  cp "$peers/gen.mjs" "$work/bench/"
  node "$work/bench/gen.mjs"
fi
cargo build -q --release -p omnirule-bench
passes=${PASSES:-2}
events=$(node -e "console.log(require('$data/events.json').length)")
count() {
  OMNIRULE_PROFILE_PASSES=$2 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    target/release/omnirule-bench profile "$data" "$1" 2>&1 | grep -Eo 'Collected : [0-9]+' | grep -Eo '[0-9]+'
}
echo "| rules | instructions per event |"
echo "|---:|---:|"
for n in ${NS-10 100 1000}; do
  base=$(count "$n" 0)
  work_done=$(count "$n" "$passes")
  echo "| $n | $(( (work_done - base) / (passes * events) )) |"
done

# What writing exposure (and conversion) lines adds to an event, in instructions: the
# exposure benchmark's two cases (`omnirule-bench exposures`), P passes each, evaluation alone
# and with the lines, less the same run with no passes.
exposure_count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    target/release/omnirule-bench exposure-passes "$1" "$2" "$passes" 2>&1 | grep -Eo 'Collected : [0-9]+' | grep -Eo '[0-9]+'
}
echo
echo "| exposure logging | instructions per event, evaluation | … with the lines | added |"
echo "|---|---:|---:|---:|"
for case in floor journeys; do
  per_pass=$(target/release/omnirule-bench exposure-passes "$case" none 0 | grep -Eo '^[0-9]+')
  none=$(exposure_count "$case" none)
  alone=$(( ($(exposure_count "$case" alone) - none) / (passes * per_pass) ))
  logged=$(( ($(exposure_count "$case" logged) - none) / (passes * per_pass) ))
  echo "| $case | $alone | $logged | $(awk "BEGIN { printf \"%+.1f%%\", ($logged / $alone - 1) * 100 }") |"
done
