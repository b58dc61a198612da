// The playground's size and speed, in headless Chromium (Debian's `chromium`, playwright-core):
// page weight (gzip), time from navigation to an interactive page (example compiled, timeline
// played), and, on the largest example, the time from a keystroke to the compiler's diagnostic
// drawn in the editor.
//   node web/playground/build.mjs && node bench/playground.mjs
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";
import { chromium } from "../web/node_modules/playwright-core/index.mjs";
import { serve } from "../web/playground/serve.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "web", "playground", "dist");
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let raw = 0;
let gz = 0;
const parts = [];
for (const f of fs.readdirSync(DIST)) {
  const b = fs.readFileSync(path.join(DIST, f));
  const g = zlib.gzipSync(b, { level: 9 }).length;
  raw += b.length;
  gz += g;
  parts.push(`${f} ${g}`);
}

const server = await serve(0);
const url = `http://127.0.0.1:${server.address().port}/`;
const launch = () => chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), "pg-bench-")), {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});

// Time to interactive: a fresh browser profile each time (nothing cached), five runs.
const tti = [];
for (let i = 0; i < 5; i++) {
  const context = await launch();
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.waitForFunction(() => window.playground?.ready === true, null, { timeout: 60000 });
  await page.waitForSelector("#status.ok");
  tti.push(await page.evaluate(() => window.playground.readyAt));
  await context.close();
}

// Keystroke → diagnostic, on the largest example: a character typed into a field name makes it
// unknown (E0102); the time runs from the key event to the squiggle in the editor.
const context = await launch();
const page = context.pages()[0] ?? (await context.newPage());
await page.goto(url);
await page.waitForFunction(() => window.playground?.ready === true, null, { timeout: 60000 });
const examples = JSON.parse(fs.readFileSync(path.join(DIST, "examples.json"), "utf8"));
const largest = examples.reduce((a, b) => (b.rules.length > a.rules.length ? b : a));
await page.selectOption("#examples", largest.name);
await page.waitForSelector("#status.ok");
await page.evaluate(() => {
  document.addEventListener("keydown", () => { window.__keyAt = performance.now(); }, true);
});
// The end of the first field read of the event or the profile: an `x` there makes it unknown.
const field = /\b(event|profile)\.[a-z_]{3,}/.exec(largest.rules);
const at = field.index + field[0].length - 1;
const latencies = [];
const compiles = [];
for (let i = 0; i < 21; i++) {
  await page.evaluate((pos) => {
    const v = window.playground.view;
    v.dispatch({ selection: { anchor: pos } });
    v.focus();
  }, at);
  await page.keyboard.type("x");
  const ms = await page.evaluate(() => new Promise((resolve) => {
    const poll = () => {
      if (document.querySelector(".cm-lintRange-error")) resolve(performance.now() - window.__keyAt);
      else requestAnimationFrame(poll);
    };
    poll();
  }));
  latencies.push(ms);
  compiles.push(await page.evaluate(() => window.playground.lastCompile().ms));
  await page.keyboard.press("Backspace");
  await page.waitForSelector("#status.ok");
  await page.waitForFunction(() => !document.querySelector(".cm-lintRange-error"));
}
await context.close();
server.close();

console.log(`### The playground (web/playground), headless Chromium

| page weight | time to interactive (cold, median of 5) | keystroke → diagnostic, ${largest.name} (${largest.rules.length} chars; median / max of 21) | of which the compile |
|---:|---:|---:|---:|
| ${gz} B gzip (${raw} B raw) | ${median(tti).toFixed(0)} ms | ${median(latencies).toFixed(1)} / ${Math.max(...latencies).toFixed(1)} ms | ${median(compiles).toFixed(1)} ms |

Files (gzip bytes): ${parts.join(", ")}.
`);
