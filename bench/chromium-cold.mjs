// Cold start in a browser: headless Chromium (Debian's, driven by playwright-core from
// web/node_modules) opens a page that imports the npm package, loads a bundle (the 1,000-rule
// one, from bench/node.mjs) and makes one decision, timed inside the page from the
// navigation's start, with the part that compares with the Node figure (import → first
// decision) apart. First visits run in a fresh browser profile each (nothing cached); repeat
// visits reopen the page in one profile, where the HTTP cache holds the module and V8 may keep
// its compiled code.
//   node bench/chromium-cold.mjs BUNDLE EVENT_JSON   (bench/node.mjs runs it)
// Prints one markdown paragraph; exits 0 without measuring when Chromium is missing.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const PKG = path.join(ROOT, "web", "pkg");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const FIRST_VISITS = 5;
const REPEAT_VISITS = 9;

const [bundlePath, eventJson] = process.argv.slice(2);
if (!bundlePath || !eventJson) {
  console.error("usage: node bench/chromium-cold.mjs BUNDLE EVENT_JSON");
  process.exit(2);
}
const require = createRequire(path.join(ROOT, "web", "package.json"));
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch {
  chromium = null;
}
if (!chromium || !fs.existsSync(CHROMIUM)) {
  console.log(`Cold start in Chromium: not measured (needs ${CHROMIUM} and web/node_modules; \`bash scripts/test-web.sh\` installs both).`);
  process.exit(0);
}

const x = JSON.parse(eventJson);
const profile = { ...x.profile, consents: [] };
const event = { ...x.event, id: "cold", time: 1795168800000 };
// The page as a site would write it: the module preloaded, the bundle fetched while the module
// compiles. Times are from the navigation's start (performance.now() in a page counts from it).
const page = `<!doctype html><meta charset="utf-8"><title>cold start</title>
<link rel="modulepreload" href="/pkg/omnirule.js">
<link rel="preload" href="/pkg/omnirule_bg.wasm" as="fetch" type="application/wasm" crossorigin>
<script type="module">
const bundle = fetch("/bundle").then((r) => r.arrayBuffer());
const t0 = performance.now();
const { default: init, Engine } = await import("/pkg/omnirule.js");
await init({ module_or_path: "/pkg/omnirule_bg.wasm" });
const t1 = performance.now();
const bytes = new Uint8Array(await bundle);
const tb = performance.now();
const engine = Engine.fromBundle(bytes, { storage: false });
const t2 = performance.now();
engine.setProfile(${JSON.stringify(profile)});
const decisions = engine.track(${JSON.stringify(event)});
const t3 = performance.now();
window.result = { page: t0, import: t1 - t0, wait: tb - t1, load: t2 - tb, first: t3 - t2,
  engine: t1 - t0 + (t3 - tb), total: t3, decisions: decisions.length };
</script>`;

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm" };
const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  // Cacheable, as a site or CDN would serve them: repeat visits take them from the cache.
  const cached = { "cache-control": "public, max-age=3600" };
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html", "cache-control": "no-store" });
    return res.end(page);
  }
  if (url.pathname === "/bundle") {
    res.writeHead(200, { "content-type": "application/octet-stream", ...cached });
    return res.end(fs.readFileSync(bundlePath));
  }
  if (url.pathname.startsWith("/pkg/")) {
    const file = path.join(PKG, decodeURIComponent(url.pathname.slice("/pkg/".length)));
    if (file.startsWith(PKG + path.sep) && fs.existsSync(file) && fs.statSync(file).isFile()) {
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", ...cached });
      return res.end(fs.readFileSync(file));
    }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}/`;

const launch = (dir) =>
  chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });

async function visit(context) {
  const tab = await context.newPage();
  const errors = [];
  tab.on("pageerror", (e) => errors.push(String(e)));
  try {
    await tab.goto(base);
    await tab.waitForFunction(() => window.result !== undefined || null, null, { timeout: 30000 });
    return await tab.evaluate(() => window.result);
  } catch (e) {
    throw new Error(`the page failed: ${errors.join("; ") || e}`);
  } finally {
    await tab.close();
  }
}

const dirs = [];
const fresh = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-cold-"));
  dirs.push(dir);
  return dir;
};
const firsts = [];
const repeats = [];
let version = "";
try {
  for (let i = 0; i < FIRST_VISITS; i++) {
    const context = await launch(fresh());
    try {
      version = context.browser()?.version() ?? version;
      firsts.push(await visit(context));
    } finally {
      await context.close();
    }
  }
  const context = await launch(fresh());
  try {
    version = context.browser()?.version() ?? version;
    // The first visit fills the caches; V8 writes a module's compiled code to the cache once
    // enough of it is optimised, in the background: give it time before each repeat visit.
    await visit(context);
    for (let i = 0; i < REPEAT_VISITS; i++) {
      await new Promise((r) => setTimeout(r, 1500));
      repeats.push(await visit(context));
    }
  } finally {
    await context.close();
  }
} finally {
  server.close();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
}

for (const r of [...firsts, ...repeats]) {
  if (!(r.decisions >= 0)) throw new Error(`no decision came back: ${JSON.stringify(r)}`);
}
const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const m = (rs, k) => median(rs.map((r) => r[k])).toFixed(1);
const line = (rs) =>
  `**${m(rs, "total")} ms** from navigation to the first decision (the page's script starts at ${m(rs, "page")} ms; import + instantiate ${m(rs, "import")} ms, waiting for the bundle ${m(rs, "wait")} ms, bundle load ${m(rs, "load")} ms, first decision ${m(rs, "first")} ms; import to first decision without the wait ${m(rs, "engine")} ms)`;
console.log(`Cold start in headless Chromium${version ? ` ${version}` : ""}, \`${path.basename(bundlePath)}\` (a page that preloads the
module and fetches the bundle meanwhile; medians). First visit, nothing cached (${firsts.length} fresh profiles):
${line(firsts)}. Repeat visit, module and bundle from the HTTP cache (${repeats.length} visits in one
profile): ${line(repeats)}.`);
