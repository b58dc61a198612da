// What logging exposures adds to an event in Node, through the npm package: `track` alone,
// against `track` with `onExposure` (each decision's line handed to JavaScript as an object,
// as a page would send it to its collector). The rule set is bench/exposures.rules (the
// native half: `omnirule-bench exposures`), 2,000 customers, three events each, every event
// decided. With a second bundle, the demo's rules (examples/10-o2o-loop), the same comparison
// for customers with a week of browsing in memory: a knitwear page view, a store visit and a
// purchase, `onExposure` and `onConversion` both set (the native half: the second table of
// `omnirule-bench exposures`).
//   node bench/node-exposures.mjs BUNDLE [O2O_BUNDLE]
//   (`omnirule build bench/exposures.rules`, `omnirule build examples/10-o2o-loop`)
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const PKG = path.join(ROOT, "web", "pkg");
const bundlePath = process.argv[2];
if (!bundlePath) {
  console.error("usage: node bench/node-exposures.mjs BUNDLE [O2O_BUNDLE]");
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
const options = { storage: false, storageConsent: ["marketing"], host: "edge" };
const lines = [];
const plain = Engine.fromBundle(bytes, options);
const logged = Engine.fromBundle(bytes, { ...options, onExposure: (e) => lines.push(e) });
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

const o2oPath = process.argv[3];
if (o2oPath) journeys(fs.readFileSync(o2oPath));

function journeys(o2o) {
  const DAY = 86400000;
  const T0 = 1795168800000;
  const categories = ["knitwear", "coats", "shoes", "accessories"];
  const customers = [];
  for (let i = 0; i < 1000; i++) {
    const profile = { id: `c${i}`, tier: "silver", first_name: "Ana", consents: ["marketing", "location"] };
    // A week of browsing, twenty page views, no knitwear bought.
    const past = [];
    for (let n = 0; n < 20; n++) {
      past.push({
        type: "page_view", id: `c${i}-p${n}`, time: T0 - 7 * DAY + n * 8 * 3600000,
        sku: `SK-${(i + n) % 50}`, category: categories[(i + n) % 4], price: 40 + (n % 7) * 10,
      });
    }
    const sku = `SW-${i % 40}`;
    const journey = [
      { type: "page_view", id: `c${i}-w`, time: T0, sku, category: "knitwear", price: 79 },
      { type: "beacon_enter", id: `c${i}-b`, time: T0 + DAY, store: "paris-01", zone: "entrance" },
      { type: "purchase", id: `c${i}-s`, time: T0 + DAY + 1200000, sku, category: "knitwear",
        amount: 63.2, channel: "store", store: "paris-01" },
    ];
    customers.push({ profile, past, journey });
  }
  // Only the journey is timed: the week of history is played untimed for each customer.
  function pass(engine) {
    let ms = 0;
    for (const c of customers) {
      engine.reset();
      engine.setProfile(c.profile);
      for (const e of c.past) engine.track(e);
      const start = performance.now();
      for (const e of c.journey) engine.track(e);
      ms += performance.now() - start;
    }
    return ms;
  }
  const got = [];
  // The engines say where their events happen (remembered with exposures either way): only
  // the callbacks differ.
  const options = { storage: false, host: "paris-01", channel: "store" };
  const plainO2o = Engine.fromBundle(o2o, options);
  const exposedO2o = Engine.fromBundle(o2o, { ...options, onExposure: (e) => got.push(e) });
  const loggedO2o = Engine.fromBundle(o2o, {
    ...options, onExposure: (e) => got.push(e), onConversion: (c) => got.push(c),
  });
  const alone = [];
  const withExposures = [];
  const withBoth = [];
  let lines = 0;
  for (let rep = 0; rep < 7; rep++) {
    alone.push(pass(plainO2o));
    got.length = 0;
    withExposures.push(pass(exposedO2o));
    got.length = 0;
    withBoth.push(pass(loggedO2o));
    lines = got.length;
  }
  const events = customers.length * 3;
  const perEvent = (xs) => (median(xs) * 1000) / events;
  const [a, x, b] = [perEvent(alone), perEvent(withExposures), perEvent(withBoth)];
  const added = (v) => `${((v / a - 1) * 100).toFixed(1)}%`;
  console.log(`### Exposure logging, Node ${process.version}, the demo's rules with a week of history (${events} events timed; ${lines} lines a pass, the history's included)

| track µs/event | + onExposure µs/event | added | + onConversion too µs/event | added |
|---:|---:|---:|---:|---:|
| ${a.toFixed(3)} | ${x.toFixed(3)} | ${added(x)} | ${b.toFixed(3)} | ${added(b)} |
`);
  plainO2o.free();
  exposedO2o.free();
  loggedO2o.free();
}
