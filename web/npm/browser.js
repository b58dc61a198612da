// Browsers and bundlers: the module fetches and instantiates the .wasm beside it before the
// first import resolves (top-level await), so `import { Engine } from "omnirule"` is all a
// page needs. (The .wasm must be served next to omnirule.js: bundlers that understand
// `new URL("./omnirule_bg.wasm", import.meta.url)`, such as Vite, copy it.)
import init from "./omnirule.js";

await init();

export * from "./omnirule.js";
export { BundleSource } from "./loader.js";
export { default } from "./omnirule.js";
