// Builds the playground into dist/: the app bundled by esbuild (CodeMirror 6 and the page's
// code, one minified module), the authoring package's wasm (web/pkg-full, built by
// `scripts/build-web.sh --with-compiler`), the examples as one JSON file, the page, its style
// and the service worker that keeps it working offline. Prints the page weight.
//   node build.mjs
import * as esbuild from "esbuild";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..", "..");
const PKG = path.join(ROOT, "web", "pkg-full");
const OUT = path.join(HERE, "dist");

if (!fs.existsSync(path.join(PKG, "omnirule_bg.wasm"))) {
  console.error("playground: web/pkg-full is missing: run scripts/build-web.sh --with-compiler first");
  process.exit(1);
}
fs.rmSync(OUT, { recursive: true, force: true });
fs.mkdirSync(OUT, { recursive: true });

await esbuild.build({
  entryPoints: [path.join(HERE, "src", "main.js")],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2022",
  outfile: path.join(OUT, "app.js"),
  alias: { omnirule: path.join(PKG, "omnirule.js") },
  logLevel: "warning",
});
fs.copyFileSync(path.join(PKG, "omnirule_bg.wasm"), path.join(OUT, "omnirule_bg.wasm"));
for (const f of ["index.html", "style.css", "sw.js"]) {
  fs.copyFileSync(path.join(HERE, f), path.join(OUT, f));
}

// The examples: each folder's rules, profile and events, and its README's title.
const examplesDir = path.join(ROOT, "examples");
const examples = fs.readdirSync(examplesDir)
  .filter((d) => fs.statSync(path.join(examplesDir, d)).isDirectory())
  .sort()
  .map((d) => {
    const dir = path.join(examplesDir, d);
    const read = (f) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f), "utf8") : null);
    const title = (read("README.md") ?? d).split("\n")[0].replace(/^#\s*/, "").replace(/^\d+\s*[—-]\s*/, "");
    const rules = fs.readdirSync(dir).filter((f) => f.endsWith(".rules")).sort().map(read).join("\n");
    const profile = JSON.parse(read("profile.json") ?? '{"id": "c1", "consents": []}');
    const events = (read("events.jsonl") ?? "").split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    return { name: d, title, rules, profile, events };
  });
fs.writeFileSync(path.join(OUT, "examples.json"), JSON.stringify(examples));

// What the service worker caches: every file of the build, with a version that changes with
// their content (so a new build replaces the old cache).
const files = fs.readdirSync(OUT).filter((f) => f !== "sw.js");
const hash = (await import("node:crypto")).createHash("sha256");
for (const f of files.sort()) hash.update(fs.readFileSync(path.join(OUT, f)));
const sw = fs.readFileSync(path.join(OUT, "sw.js"), "utf8")
  .replace("__VERSION__", hash.digest("hex").slice(0, 16))
  .replace('"__FILES__"', JSON.stringify(["./", ...files]));
fs.writeFileSync(path.join(OUT, "sw.js"), sw);

let raw = 0;
let gz = 0;
for (const f of fs.readdirSync(OUT)) {
  const b = fs.readFileSync(path.join(OUT, f));
  raw += b.length;
  gz += zlib.gzipSync(b, { level: 9 }).length;
}
console.log(`playground: built dist/ (${examples.length} examples): ${raw} bytes, ${gz} bytes gzip`);
