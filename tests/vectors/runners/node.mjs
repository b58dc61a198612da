// The Node runner: node tests/vectors/runners/node.mjs DIR  →  DIR/out/node.jsonl
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runAll } from "./run-case.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node node.mjs DIR (prepared by omnirule-vectors prepare)");
  process.exit(2);
}
const pkg = path.join(ROOT, "web", "pkg");
const { default: init, Engine } = await import(path.join(pkg, "omnirule.js"));
await init({ module_or_path: fs.readFileSync(path.join(pkg, "omnirule_bg.wasm")) });
const cases = fs.readFileSync(path.join(dir, "cases.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
const out = runAll(Engine, cases, (name) => new Uint8Array(fs.readFileSync(path.join(dir, name))));
fs.mkdirSync(path.join(dir, "out"), { recursive: true });
fs.writeFileSync(path.join(dir, "out", "node.jsonl"), out.map((o) => JSON.stringify(o)).join("\n") + "\n");
console.log(`node: ran ${out.length} vectors`);
