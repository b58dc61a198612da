// The Chromium runner: runs every case in a page of real headless Chromium (Debian's, driven by
// playwright-core from web/node_modules), with the browser package loaded as a page would.
//   node tests/vectors/runners/chromium.mjs DIR  →  DIR/out/chromium.jsonl
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node chromium.mjs DIR");
  process.exit(2);
}
const require = createRequire(path.join(ROOT, "web", "package.json"));
const { chromium } = require("playwright-core");

const TYPES = { ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
  ".html": "text/html", ".jsonl": "text/plain", ".bundle": "application/octet-stream" };
const routes = {
  "/pkg/": path.join(ROOT, "web", "pkg"),
  "/runner/": HERE,
  "/cases/": path.resolve(dir),
};
const page = `<!doctype html><meta charset="utf-8"><title>vectors</title>
<script type="module">
import init, { Engine } from "/pkg/omnirule.js";
import { runCase } from "/runner/run-case.mjs";
window.runVectors = async () => {
  await init({ module_or_path: "/pkg/omnirule_bg.wasm" });
  const cases = (await (await fetch("/cases/cases.jsonl")).text()).trim().split("\\n").map((l) => JSON.parse(l));
  const bundles = new Map();
  const out = [];
  for (const c of cases) {
    if (!bundles.has(c.bundle)) {
      bundles.set(c.bundle, new Uint8Array(await (await fetch("/cases/" + c.bundle)).arrayBuffer()));
    }
    out.push(JSON.stringify(runCase(Engine, bundles.get(c.bundle), c)));
  }
  return out.join("\\n") + "\\n";
};
window.ready = true;
</script>`;

const server = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  if (url.pathname === "/") {
    res.writeHead(200, { "content-type": "text/html" });
    return res.end(page);
  }
  for (const [prefix, base] of Object.entries(routes)) {
    if (url.pathname.startsWith(prefix)) {
      const file = path.join(base, decodeURIComponent(url.pathname.slice(prefix.length)));
      if (!file.startsWith(base) || !fs.existsSync(file)) break;
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" });
      return res.end(fs.readFileSync(file));
    }
  }
  res.writeHead(404);
  res.end();
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;
const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-chromium-"));
const context = await chromium.launchPersistentContext(profileDir, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const tab = await context.newPage();
  const errors = [];
  tab.on("pageerror", (e) => errors.push(String(e)));
  await tab.goto(base + "/");
  await tab.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
  const text = await tab.evaluate(() => window.runVectors());
  if (errors.length > 0) throw new Error(errors.join("\n"));
  fs.mkdirSync(path.join(dir, "out"), { recursive: true });
  fs.writeFileSync(path.join(dir, "out", "chromium.jsonl"), text);
  console.log(`chromium: ran ${text.trim().split("\n").length} vectors`);
} finally {
  await context.close();
  server.close();
  fs.rmSync(profileDir, { recursive: true, force: true });
}
