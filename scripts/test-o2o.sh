#!/usr/bin/env bash
# The O2O journey end to end as a test (demo/o2o.test.mjs): the shop, the edge worker in workerd,
# the store host in wasmtime and headless Chromium on 127.0.0.1, each step's decisions asserted
# and every event replayed through the native engine. Builds and installs what is missing (see
# scripts/demo.sh, which shares the set-up). Ends with `N passed, M failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR=${CARGO_TARGET_DIR:-target}
mkdir -p "$TARGET_DIR"
if ! bash scripts/demo.sh --setup-only; then
  echo "test-o2o: the set-up failed" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
tap="$TARGET_DIR/o2o-test.tap"
node --test --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" demo/o2o.test.mjs
status=$?
passed=$(grep -Eo '^# pass [0-9]+' "$tap" 2>/dev/null | awk '{print $3}')
failed=$(grep -Eo '^# fail [0-9]+' "$tap" 2>/dev/null | awk '{print $3}')
passed=${passed:-0}
failed=${failed:-0}
if [[ $status -ne 0 && $failed -eq 0 ]]; then
  failed=1 # the runner itself failed (a file that does not load, a crash)
fi
printf '\n%s passed, %s failed\n' "$passed" "$failed"
exit "$status"
