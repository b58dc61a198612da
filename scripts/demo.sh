#!/usr/bin/env bash
# The O2O demo: one customer crosses from the web shop into a store and back, through the real
# runtimes on 127.0.0.1 (the shop, the edge worker in workerd, the store host in wasmtime,
# headless Chromium), and a customer without consent walks the same path; then every event each
# runtime evaluated is replayed through the native engine. See demo/README.md.
#
#   scripts/demo.sh                  set up what is missing, then run the demo
#   scripts/demo.sh --keep-running   leave the shop, the edge and the store host up (Ctrl-C stops)
#   scripts/demo.sh --no-pause       no pauses between the steps
#   scripts/demo.sh --setup-only     set up and build, run nothing (scripts/test-o2o.sh uses it)
#
# On a fresh Debian machine it installs: the wasm32 target and tzdata (scripts/setup.sh),
# wasm-bindgen-cli and the web package's npm tools (scripts/build-web.sh), workerd (npm, in
# edge-host/workerd), node/npm and chromium (apt-get) when missing. Needs cargo/rustup.
set -euo pipefail
cd "$(dirname "$0")/.."

setup_only=false
demo_args=()
for arg in "$@"; do
  case "$arg" in
    --setup-only) setup_only=true ;;
    --keep-running | --no-pause) demo_args+=("$arg") ;;
    -h | --help)
      sed -n '2,14p' "$0"
      exit 0
      ;;
    *)
      echo "demo: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf '[demo] %s\n' "$*"; }
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
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

export PATH="$HOME/.cargo/bin:$PATH"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export CHROMIUM

bash scripts/setup.sh
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "installing node and npm"
  apt_install nodejs npm || { echo "demo: node and npm are required" >&2; exit 1; }
fi
if [[ ! -x $CHROMIUM ]]; then
  say "installing chromium"
  apt_install chromium || { echo "demo: Chromium is required at $CHROMIUM (apt-get install chromium)" >&2; exit 1; }
fi

say "building the engine's wasm module for the store host (omnirule-abi)"
cargo build -q -p omnirule-abi --target wasm32-unknown-unknown --profile wasm
if [[ -n ${OMNIRULE_PREBUILT:-} && -x $OMNIRULE_PREBUILT/omnirule-store && -x $OMNIRULE_PREBUILT/omnirule ]]; then
  # scripts/test.sh built every binary with the workspace's features; building them here for
  # one package would resolve other features and compile wasmtime again.
  say "using the binaries in $OMNIRULE_PREBUILT"
else
  say "building the omnirule command (the native reference)"
  cargo build -q -p omnirule-cli
  # The dev profile (compiling wasmtime takes several minutes the first time on a small
  # machine).
  say "building the store host (omnirule-store; the first build compiles wasmtime: minutes)"
  cargo build -q -p omnirule-store
fi
say "building the browser package (scripts/build-web.sh)"
bash scripts/build-web.sh >/dev/null
if [[ ! -d web/node_modules/playwright-core ]]; then
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi
# `npm install`, not `npm ci`: see scripts/test-edge.sh.
if [[ ! -x edge-host/workerd/node_modules/.bin/workerd ]]; then
  say "installing workerd (edge-host/workerd)"
  (cd edge-host/workerd && npm install --no-audit --no-fund --loglevel=error)
fi
$setup_only && exit 0

# exec: Ctrl-C and SIGTERM reach the demo itself, which stops everything it started.
exec node demo/o2o.mjs "${demo_args[@]}"
