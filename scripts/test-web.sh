#!/usr/bin/env bash
# Tests the browser package: builds it (scripts/build-web.sh), runs the Node tests (the same
# engine behaviour through JS as the native CLI, byte for byte) and drives the demo page in real
# headless Chromium (playwright-core + Debian's chromium). Screenshots: target/screenshots/.
# Installs what it needs on a fresh Debian machine. Ends with `N passed, M failed`.
#
#   scripts/test-web.sh                   runtime package, Node and Chromium tests
#   scripts/test-web.sh --with-compiler   also the authoring package (web/pkg-full), its tests,
#                                         and the playground (web/playground) in Chromium
set -uo pipefail
cd "$(dirname "$0")/.."

with_compiler=false
for arg in "$@"; do
  case "$arg" in
    --with-compiler) with_compiler=true ;;
    *)
      echo "test-web: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

say() { printf '\n== %s\n' "$*"; }
die() {
  echo "test-web: $*" >&2
  echo "0 passed, 1 failed"
  exit 1
}

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi
}
apt_updated=false
apt_install() {
  command -v apt-get >/dev/null || return 1
  if ! $apt_updated; then
    as_root apt-get update -qq || return 1
    apt_updated=true
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

export PATH="$HOME/.cargo/bin:$PATH"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

say "tools: node, npm, chromium"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt_install nodejs npm || die "node and npm are required (apt-get install nodejs npm)"
fi
if [[ ! -x $CHROMIUM ]]; then
  apt_install chromium || die "Chromium is required at $CHROMIUM (apt-get install chromium)"
fi
node --version
"$CHROMIUM" --version 2>/dev/null || true
if [[ ! -d web/node_modules/playwright-core || ! -x web/node_modules/.bin/wasm-opt || ! -x web/node_modules/.bin/tsc ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in web/"
fi

say "build: the native CLI (the reference the package is compared with)"
cargo build -q -p omnirule-cli || die "cargo build -p omnirule-cli failed"
export OMNIRULE_CLI="$(cd "$TARGET_DIR" && pwd)/debug/omnirule"

say "build: the package (scripts/build-web.sh)"
build_args=(--demo)
$with_compiler && build_args+=(--with-compiler)
bash scripts/build-web.sh "${build_args[@]}" || die "scripts/build-web.sh failed"

mkdir -p "$TARGET_DIR"
passed=0
failed=0
# run_tests NAME FILES...: node --test, spec output here, TAP counted.
run_tests() {
  local name=$1
  shift
  local tap="$TARGET_DIR/web-$name.tap"
  say "tests: $name"
  node --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$@"
  local status=$?
  local p f
  p=$(grep -Eo '^# pass [0-9]+' "$tap" 2>/dev/null | awk '{print $3}')
  f=$(grep -Eo '^# fail [0-9]+' "$tap" 2>/dev/null | awk '{print $3}')
  p=${p:-0}
  f=${f:-0}
  if [[ $status -ne 0 && $f -eq 0 ]]; then
    f=1 # the runner itself failed (a file that does not load, a crash)
  fi
  passed=$((passed + p))
  failed=$((failed + f))
}

if $with_compiler; then
  say "build: the playground (web/playground: CodeMirror 6, bundled by esbuild)"
  if [[ ! -x web/playground/node_modules/.bin/esbuild ]]; then
    (cd web/playground && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in web/playground/"
  fi
  node web/playground/build.mjs || die "the playground's build failed"
fi

run_tests node web/test/engine.test.mjs
run_tests package web/test/package.test.mjs
$with_compiler && run_tests compiler web/test/compiler.test.mjs
$with_compiler && run_tests playground web/test/playground.browser.test.mjs
run_tests chromium web/test/demo.browser.test.mjs
ls "$TARGET_DIR"/screenshots/*.png 2>/dev/null | sed 's/^/screenshot: /'

printf '\n%s passed, %s failed\n' "$passed" "$failed"
[[ $failed -eq 0 ]]
