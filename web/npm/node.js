// Node: the module initialises itself from the .wasm beside it (synchronously), so
// `import { Engine } from "omnirule"` is all a script needs.
import { readFileSync } from "node:fs";
import { initSync } from "./omnirule.js";

initSync({ module: readFileSync(new URL("./omnirule_bg.wasm", import.meta.url)) });

export * from "./omnirule.js";
export { BundleSource } from "./loader.js";
export { default } from "./omnirule.js";
