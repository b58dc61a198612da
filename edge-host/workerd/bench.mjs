// Measures the edge worker in real workerd on 127.0.0.1: cold start (process start to the first
// personalised response) and per-request overhead (through the worker vs straight to the
// origin), for sequential requests. Bounded: 5 starts, 1,000 requests per path.
//   node edge-host/workerd/bench.mjs BUNDLE  →  a Markdown table on stdout
import crypto from "node:crypto";
import { startEdge } from "./serve.mjs";
import { startOrigin } from "./origin.mjs";

const bundle = process.argv[2];
if (!bundle) {
  console.error("usage: node bench.mjs BUNDLE");
  process.exit(2);
}
const SECRET = "bench-secret";
const body = Buffer.from(JSON.stringify({ id: "bench", tier: "silver", consents: ["marketing"] })).toString("base64url");
const issued = Math.floor(Date.now() / 1000);
const sig = crypto.createHmac("sha256", SECRET).update(`profile:${issued}:${body}`).digest("base64url");
const headers = { "x-omnirule-profile": `${body}.${issued}.${sig}` };

const origin = await startOrigin();
const pct = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

// Cold start: spawn workerd, wait for it, then the first personalised page.
const colds = [];
for (let i = 0; i < 5; i++) {
  const t0 = performance.now();
  const edge = await startEdge({ bundle, origin: origin.address, secret: SECRET });
  const res = await fetch(`${edge.url}/products/SW-1`, { headers });
  const html = await res.text();
  if (!html.includes("data-omnirule-rule")) throw new Error("the first page was not personalised");
  colds.push(performance.now() - t0);
  await edge.stop();
}

async function timeRequests(base, n, h) {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await fetch(`${base}/products/SW-1`, { headers: h });
    await res.arrayBuffer();
    times.push(performance.now() - t0);
  }
  return times;
}

const edge = await startEdge({ bundle, origin: origin.address, secret: SECRET });
await timeRequests(edge.url, 100, headers); // warm up
const direct = await timeRequests(`http://${origin.address}`, 1000, {});
const through = await timeRequests(edge.url, 1000, headers);
await edge.stop();
await origin.close();

const ms = (x) => x.toFixed(2);
console.log(`| measure | value |
|---|---:|
| cold start: spawn workerd → first personalised page (median of 5) | ${ms(pct(colds, 0.5))} ms |
| origin direct, p50 / p99 | ${ms(pct(direct, 0.5))} / ${ms(pct(direct, 0.99))} ms |
| through the edge worker, p50 / p99 | ${ms(pct(through, 0.5))} / ${ms(pct(through, 0.99))} ms |
| per-request overhead of the worker (p50) | ${ms(pct(through, 0.5) - pct(direct, 0.5))} ms |`);
