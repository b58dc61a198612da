// What logging exposures adds to an event in Node, through the npm package: `track` alone,
// against `track` with `onExposure` (each decision's line handed to JavaScript as an object,
// as a page would send it to its collector). The rule set is bench/exposures.rules (the
// native half: `omnirule-bench exposures`), 2,000 customers, three events each, every event
// decided.
//   node bench/node-exposures.mjs BUNDLE   (BUNDLE: `omnirule build bench/exposures.rules`)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = path.join(ROOT, "web", "pkg");
const bundlePath = process.argv[2];
if (!bundlePath) {
  console.error("usage: node bench/node-exposures.mjs BUNDLE");
  process.exit(2);
}
const { initSync, Engine } = await import(path.join(PKG, "omnirule.js"));
initSync({ module: fs.readFileSync(path.join(PKG, "omnirule_bg.wasm")) });
const bytes = fs.readFileSync(bundlePath);

const inputs = [];
for (let i = 0; i < 2000; i++) {
  const profile = { id: `c${i}`, tier: "silver", consents: ["marketing"] };
  const events = [0, 1, 2].map((n) => ({
    type: "page_view", id: `c${i}-${n}`, time: 1795000000000 + n, sku: "CO-1", category: "coats",
    price: 90 + 10 * n,
  }));
  inputs.push({ profile, events });
}

function pass(engine, sink) {
  let decisions = 0;
  const start = performance.now();
  for (const x of inputs) {
    engine.setProfile(x.profile);
    for (const e of x.events) decisions += engine.track(e).length;
    // A fresh visitor each time (as the edge worker does), so every event is evaluated.
    engine.reset();
    sink.length = 0;
  }
  return { ms: performance.now() - start, decisions };
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// `storageConsent`: these rules read no history, so no purpose would allow a memory, and a
// visitor about whom nothing may be kept is not logged; marketing consent allows it here.
const options = { storage: false, storageConsent: ["marketing"] };
const lines = [];
const plain = Engine.fromBundle(bytes, options);
const logged = Engine.fromBundle(bytes, { ...options, onExposure: (e) => lines.push(e), host: "edge" });
const alone = [];
const withLog = [];
let decisions = 0;
for (let rep = 0; rep < 7; rep++) {
  alone.push(pass(plain, lines).ms);
  const r = pass(logged, lines);
  withLog.push(r.ms);
  decisions = r.decisions;
}
const events = inputs.length * 3;
const a = (median(alone) * 1000) / events;
const l = (median(withLog) * 1000) / events;
console.log(`### Exposure logging, Node ${process.version} (${events} events, ${(decisions / events).toFixed(2)} decisions each)

| track µs/event | track + onExposure µs/event | added |
|---:|---:|---:|
| ${a.toFixed(3)} | ${l.toFixed(3)} | ${((l / a - 1) * 100).toFixed(0)}% |
`);
plain.free();
logged.free();
