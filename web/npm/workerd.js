// Cloudflare Workers and workerd: the .wasm is imported as a compiled module (wrangler and
// workerd do this for `.wasm` imports), so nothing is fetched at run time and
// `import { Engine } from "omnirule"` is all a worker needs.
import wasm from "./omnirule_bg.wasm";
import { initSync } from "./omnirule.js";

initSync({ module: wasm });

export * from "./omnirule.js";
export { BundleSource } from "./loader.js";
export { default } from "./omnirule.js";
