#!/usr/bin/env bash
# Builds the `omnirule` npm package (ESM + TypeScript declarations) into web/pkg/: the runtime
# only, no rule compiler. Prints the .wasm's raw and gzip sizes.
#
#   scripts/build-web.sh                  runtime package        -> web/pkg/
#   scripts/build-web.sh --with-compiler  also the authoring one -> web/pkg-full/ (adds compile())
#   scripts/build-web.sh --demo           also the demo's bundle -> web/demo/shop.bundle
#
# Installs what it needs when missing: the wasm32 target, wasm-bindgen-cli (pinned to the
# version of the `wasm-bindgen` crate in web/Cargo.toml) and, when npm is there, the npm
# `binaryen` package for wasm-opt (Debian's wasm-opt breaks wasm-bindgen output: not used).
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
PROFILE=wasm-web
TARGET=wasm32-unknown-unknown
TARGET_DIR=${CARGO_TARGET_DIR:-target}
# One-caller functions are not inlined: the module is slightly larger raw but compresses better
# (docs/performance.md).
WASM_OPT_FLAGS=(-Oz -ocimfs=0 --enable-bulk-memory --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue)

with_compiler=false
demo=false
for arg in "$@"; do
  case "$arg" in
    --with-compiler) with_compiler=true ;;
    --demo) demo=true ;;
    -h | --help)
      sed -n '2,11p' "$0"
      exit 0
      ;;
    *)
      echo "build-web: unknown argument $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

say() { printf '[build-web] %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$TARGET"; then
  say "adding the Rust target $TARGET"
  rustup target add "$TARGET"
fi
if ! wasm-bindgen --version 2>/dev/null | grep -qF "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (several minutes, once)"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

WASM_OPT=web/node_modules/.bin/wasm-opt
if [[ ! -x $WASM_OPT ]] && command -v npm >/dev/null; then
  say "installing the npm tools (web/package-lock.json)"
  (cd web && npm ci --no-audit --no-fund --loglevel=error)
fi

size_of() { wc -c <"$1" | tr -d ' '; }
gzip_size_of() { gzip -9 -n <"$1" | wc -c | tr -d ' '; }

# build_package OUT_DIR NAME [cargo args...]
build_package() {
  local out=$1 name=$2
  shift 2
  say "cargo build -p omnirule-web --target $TARGET --profile $PROFILE $*"
  cargo build -q -p omnirule-web --target "$TARGET" --profile "$PROFILE" "$@"
  local built="$TARGET_DIR/$TARGET/$PROFILE/omnirule_web.wasm"
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" --out-name omnirule \
    --remove-name-section --remove-producers-section "$built"
  local wasm="$out/omnirule_bg.wasm"
  local before gz_before
  before=$(size_of "$wasm")
  gz_before=$(gzip_size_of "$wasm")
  if [[ -x $WASM_OPT ]]; then
    "$WASM_OPT" "${WASM_OPT_FLAGS[@]}" "$wasm" -o "$wasm.opt"
    mv "$wasm.opt" "$wasm"
    say "wasm-opt ${WASM_OPT_FLAGS[*]:0:2}: $before -> $(size_of "$wasm") bytes raw, $gz_before -> $(gzip_size_of "$wasm") bytes gzip"
  else
    say "wasm-opt not available (no npm): the .wasm is wasm-bindgen's output as is"
  fi
  local version
  version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
  sed -e "s/@NAME@/$name/" -e "s/@VERSION@/$version/" web/npm/package.json >"$out/package.json"
  # The package's own files: its README for users, changelog, licence, and the entries that
  # initialise the module for each environment (export conditions, web/npm/package.json).
  cp web/npm/README.md web/npm/CHANGELOG.md web/npm/node.js web/npm/browser.js \
    web/npm/workerd.js web/npm/loader.js web/npm/loader.d.ts "$out/"
  cp LICENSE "$out/LICENSE"
  # wasm-bindgen's types use `Symbol.dispose`: say which library declares it, so a project
  # compiled for ES2022 type-checks without `skipLibCheck`.
  { echo '/// <reference lib="esnext.disposable" />'; cat "$out/omnirule.d.ts"; } >"$out/omnirule.d.ts.new"
  mv "$out/omnirule.d.ts.new" "$out/omnirule.d.ts"
  # `omnirule/init` is the bare module: its types are these, without the entries' additions.
  cp "$out/omnirule.d.ts" "$out/init.d.ts"
  echo 'export { BundleSource, type BundleSourceOptions } from "./loader.js";' >>"$out/omnirule.d.ts"
  say "$out/omnirule_bg.wasm: $(size_of "$wasm") bytes raw, $(gzip_size_of "$wasm") bytes gzip" \
    "(profile $PROFILE)"
}

build_package web/pkg omnirule
if $with_compiler; then
  build_package web/pkg-full omnirule-full --features compiler
fi

if $demo; then
  say "building the demo's bundle from examples/07-consent-first"
  cargo build -q -p omnirule-cli
  "$TARGET_DIR/debug/omnirule" build examples/07-consent-first -o web/demo/shop.bundle
fi
