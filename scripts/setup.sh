#!/usr/bin/env bash
# Installs what the build and tests need on a fresh machine (idempotent, quick when done).
set -euo pipefail
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
