#!/usr/bin/env bash
# The marketers' playground: builds what it needs (the authoring package, web/pkg-full; the
# page, web/playground/dist) and serves it on 127.0.0.1, printing the address.
#
#   scripts/playground.sh [--port N]      (also: cd web && npm run playground)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if [[ ! -f web/pkg-full/omnirule_bg.wasm || -n $(find engine dsl web/src text -newer web/pkg-full/omnirule_bg.wasm -name '*.rs' -print -quit 2>/dev/null) ]]; then
  bash scripts/build-web.sh --with-compiler
fi
if [[ ! -x web/playground/node_modules/.bin/esbuild ]]; then
  (cd web/playground && npm ci --no-audit --no-fund --loglevel=error)
fi
node web/playground/build.mjs
exec node web/playground/serve.mjs "$@"
