// The Node half of the benchmark: the shared workload through the npm package (web/pkg),
// including the cost of crossing from JavaScript into wasm; cold start in a fresh process (and,
// through bench/chromium-cold.mjs, in a headless Chromium page); the runtime wasm's size.
// Agreement is checked against the peers' compiled-JS baseline.
//   node bench/node.mjs DATA   (after `omnirule-bench run DATA` wrote target/bench/N.bundle)
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const PKG = path.join(ROOT, "web", "pkg");
const data = process.argv[2];

if (process.argv[2] === "--cold") {
  // Child mode: import → init → load bundle → first decision, timed from process start.
  const [, , , bundlePath, eventJson] = process.argv;
  const t0 = performance.now();
  const { initSync, Engine } = await import(path.join(PKG, "omnirule.js"));
  // In Node, `initSync`: the async `init` touches `Response`/`Request`, and Node loads its
  // whole fetch implementation on first use of those, a cost of Node's and not the engine's
  // that would swamp the cold start measured here (docs/performance.md).
  initSync({ module: fs.readFileSync(path.join(PKG, "omnirule_bg.wasm")) });
  const t1 = performance.now();
  const engine = Engine.fromBundle(fs.readFileSync(bundlePath), { storage: false });
  const t2 = performance.now();
  const x = JSON.parse(eventJson);
  engine.setProfile({ ...x.profile, consents: [] });
  engine.track({ ...x.event, id: "cold", time: 1795168800000 });
  const t3 = performance.now();
  console.log(JSON.stringify({ boot: t0, import: t1 - t0, load: t2 - t1, first: t3 - t2, total: t3 - t0 }));
  process.exit(0);
}

if (!data) {
  console.error("usage: node bench/node.mjs DATA");
  process.exit(2);
}
const { initSync, Engine } = await import(path.join(PKG, "omnirule.js"));
initSync({ module: fs.readFileSync(path.join(PKG, "omnirule_bg.wasm")) });
const events = JSON.parse(fs.readFileSync(path.join(data, "events.json"), "utf8"));
const pct = (xs, p) => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))];
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const rows = [];
for (const n of [10, 100, 1000]) {
  const bytes = fs.readFileSync(path.join(ROOT, "target", "bench", `${n}.bundle`));
  const loads = [];
  for (let i = 0; i < 20; i++) {
    const t = performance.now();
    Engine.fromBundle(bytes, { storage: false }).free();
    loads.push(performance.now() - t);
  }
  const engine = Engine.fromBundle(bytes, { storage: false });
  const baseline = new Function("x", fs.readFileSync(path.join(data, String(n), "js-linear.js"), "utf8"));
  const inputs = events.map((x, i) => ({
    profile: { ...x.profile, consents: [] },
    event: { ...x.event, id: `e${i}`, time: 1795168800000 + i },
    want: baseline(x).join(","),
  }));
  let agree = 0;
  for (const x of inputs) {
    engine.setProfile(x.profile);
    if (engine.track(x.event).map((d) => d.rule).join(",") === x.want) agree++;
  }
  // Throughput from the best of three passes with no clock read between events, latencies
  // from one more pass that times each event (as the native half does).
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const start = performance.now();
    for (const x of inputs) {
      engine.setProfile(x.profile);
      engine.track(x.event);
    }
    best = Math.min(best, performance.now() - start);
  }
  const lat = [];
  for (const x of inputs) {
    const t = performance.now();
    engine.setProfile(x.profile);
    engine.track(x.event);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  rows.push(`| ${n} | ${median(loads).toFixed(3)} | ${Math.round(inputs.length / (best / 1000))} | ${(pct(lat, 0.5) * 1000).toFixed(1)} | ${(pct(lat, 0.99) * 1000).toFixed(1)} | ${agree}/${inputs.length} |`);
  engine.free();
}

const colds = [];
const coldEvent = fs.readFileSync(path.join(data, "1000", "cold-event.json"), "utf8");
// Cold starts vary from run to run here (a fresh V8 compiling and tiering up the module on
// two cores): eleven of them, the median reported.
for (let i = 0; i < 11; i++) {
  const started = performance.now();
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--cold",
    path.join(ROOT, "target", "bench", "1000.bundle"), coldEvent], { encoding: "utf8" });
  const wall = performance.now() - started;
  const inner = JSON.parse(r.stdout);
  colds.push({ ...inner, wall });
}
const m = (k) => median(colds.map((c) => c[k])).toFixed(1);
// The same cold start in a browser page (bench/chromium-cold.mjs).
const browser = spawnSync(process.execPath, [path.join(HERE, "chromium-cold.mjs"),
  path.join(ROOT, "target", "bench", "1000.bundle"), coldEvent], { encoding: "utf8" });
const inBrowser = browser.status === 0
  ? browser.stdout.trim()
  : `Cold start in Chromium: the measurement failed (${(browser.stderr || browser.stdout).trim().split("\n").pop()}).`;
const wasm = fs.readFileSync(path.join(PKG, "omnirule_bg.wasm"));
console.log(`### Node ${process.version}, through the npm package (setProfile + track per event)

| N | bundle load ms | events/s | p50 µs | p99 µs | agreement with the peers' compiled JS |
|---:|---:|---:|---:|---:|---|
${rows.join("\n")}

Cold start, 1,000 rules (fresh \`node\` process, median of 11): import + instantiate ${m("import")} ms,
bundle load ${m("load")} ms, first decision ${m("first")} ms: **${m("total")} ms from import to first
decision** (the process itself: ${m("wall")} ms wall, of which Node's own boot is most).

${inBrowser}

Runtime wasm (\`web/pkg/omnirule_bg.wasm\`): ${wasm.length} bytes raw, ${zlib.gzipSync(wasm, { level: 9 }).length} bytes gzip.
`);
