// The npm package as a user gets it: `npm pack` of web/pkg, installed into a fresh project
// (from the tarball, no registry), then `import { Engine } from "omnirule"` in Node and in a
// Chromium page with no initialisation code, and the package's TypeScript types checked by
// `tsc --noEmit` on a project that uses every public shape (test/types/use.ts).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { buildExample, root } from "./helpers.mjs";

const pkg = join(root, "web", "pkg");
const project = mkdtempSync(join(tmpdir(), "omnirule-npm-project-"));
let tarball;
let bundle;

before(() => {
  const packed = execFileSync("npm", ["pack", pkg, "--pack-destination", project, "--json", "--loglevel=error"], { encoding: "utf8" });
  tarball = join(project, JSON.parse(packed)[0].filename);
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "shop", private: true, type: "module" }));
  execFileSync("npm", ["install", tarball, "--offline", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: project });
  bundle = buildExample("07-consent-first");
  copyFileSync(bundle.path, join(project, "rules.bundle"));
});

after(() => rmSync(project, { recursive: true, force: true }));

test("the tarball holds the package and nothing else, with its metadata", () => {
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).trim().split("\n").sort();
  for (const f of ["package/LICENSE", "package/README.md", "package/CHANGELOG.md", "package/package.json",
    "package/omnirule.js", "package/omnirule.d.ts", "package/omnirule_bg.wasm", "package/node.js",
    "package/browser.js", "package/workerd.js"]) {
    assert.ok(files.includes(f), `${f} in ${files}`);
  }
  assert.ok(files.every((f) => f.startsWith("package/")));
  const meta = JSON.parse(readFileSync(join(project, "node_modules", "omnirule", "package.json"), "utf8"));
  assert.equal(meta.name, "omnirule");
  assert.equal(meta.license, "Apache-2.0");
  assert.ok(meta.keywords.includes("rules-engine"));
  assert.equal(meta.engines.node, ">=18");
  assert.deepEqual(Object.keys(meta.exports["."]), ["types", "workerd", "node", "browser", "default"]);
  const readme = readFileSync(join(project, "node_modules", "omnirule", "README.md"), "utf8");
  assert.match(readme, /^# omnirule\n/);
  assert.match(readme, /npm install omnirule/);
});

test("in Node, `import { Engine } from \"omnirule\"` works with no initialisation", () => {
  writeFileSync(join(project, "main.mjs"), `
import { readFileSync } from "node:fs";
import { Engine } from "omnirule";
const engine = Engine.fromBundle(readFileSync("rules.bundle"), { profile: { id: "c1", consents: [] }, storage: false });
const decisions = engine.track({ type: "page_view", sku: "SW-1", category: "knitwear", price: 79 });
console.log(JSON.stringify(decisions.map((d) => d.params.text)));
`);
  const out = execFileSync(process.execPath, ["main.mjs"], { cwd: project, encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), ["Winter knitwear is here"]);
});

test("the package's types check: tsc --noEmit on a project using every public shape", () => {
  copyFileSync(join(root, "web", "test", "types", "use.ts"), join(project, "use.ts"));
  copyFileSync(join(root, "web", "test", "types", "tsconfig.json"), join(project, "tsconfig.json"));
  const tsc = join(root, "web", "node_modules", ".bin", "tsc");
  execFileSync(tsc, ["-p", project], { cwd: project, encoding: "utf8" });
  // And a misuse is caught (so the check above can fail).
  writeFileSync(join(project, "bad.ts"), 'import { Engine } from "omnirule";\nconst n: number = Engine.fromBundle(new Uint8Array()).track({ type: 1 });\n');
  writeFileSync(join(project, "tsconfig.bad.json"), JSON.stringify({ extends: "./tsconfig.json", files: ["bad.ts"] }));
  assert.throws(() => execFileSync(tsc, ["-p", join(project, "tsconfig.bad.json")], { cwd: project, encoding: "utf8", stdio: "pipe" }));
});

test("in Chromium, a page imports the installed package with an import map and nothing else", async () => {
  writeFileSync(join(project, "index.html"), `<!doctype html><meta charset="utf-8">
<script type="importmap">{ "imports": { "omnirule": "/node_modules/omnirule/browser.js" } }</script>
<script type="module">
import { Engine } from "omnirule";
const bytes = new Uint8Array(await (await fetch("/rules.bundle")).arrayBuffer());
const engine = Engine.fromBundle(bytes, { profile: { id: "c1", consents: [] }, storage: false });
const decisions = engine.track({ type: "page_view", sku: "SW-1", category: "knitwear", price: 79 });
document.body.dataset.result = JSON.stringify(decisions.map((d) => d.params.text));
</script>`);
  const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
  const server = http.createServer((req, res) => {
    const file = join(project, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!file.startsWith(project) || !existsSync(file) || statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const profileDir = mkdtempSync(join(tmpdir(), "omnirule-npm-chromium-"));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run"],
  });
  const errors = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${server.address().port}/index.html`);
    await page.waitForFunction(() => document.body?.dataset.result, null, { timeout: 20000 });
    assert.deepEqual(JSON.parse(await page.evaluate(() => document.body.dataset.result)), ["Winter knitwear is here"]);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    server.close();
    rmSync(profileDir, { recursive: true, force: true });
  }
});

test("BundleSource fetches, refreshes with conditional requests, and keeps the last good bundle", async () => {
  const { BundleSource, Engine } = await import(join(project, "node_modules", "omnirule", "node.js"));
  const other = buildExample("01-cart-abandonment").bytes;
  let served = { bytes: bundle.bytes, etag: '"v1"', status: 200 };
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers["if-none-match"] ?? null);
    if (served.status !== 200) return res.writeHead(served.status).end();
    if (req.headers["if-none-match"] === served.etag) return res.writeHead(304).end();
    res.writeHead(200, { etag: served.etag, "content-type": "application/octet-stream" }).end(served.bytes);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/rules.bundle`;
  const updates = [];
  const errors = [];
  const source = new BundleSource(url, { onUpdate: (b) => updates.push(b), onError: (e) => errors.push(e.message) });
  try {
    const bytes = await source.load();
    assert.deepEqual(Buffer.from(bytes), bundle.bytes);
    Engine.fromBundle(bytes, { storage: false }).free();
    // Unchanged: a 304, nothing reloaded.
    assert.equal(await source.refresh(), false);
    assert.deepEqual(seen, [null, '"v1"']);
    assert.equal(updates.length, 1);
    // Published anew: adopted, and onUpdate told.
    served = { bytes: other, etag: '"v2"', status: 200 };
    assert.equal(await source.refresh(), true);
    assert.deepEqual(Buffer.from(source.bytes), other);
    assert.equal(updates.length, 2);
    // A broken publish (not a bundle) and a failing server: the last good bundle stays.
    served = { bytes: Buffer.from("<html>not found</html>"), etag: '"v3"', status: 200 };
    assert.equal(await source.refresh(), false);
    served = { ...served, status: 503 };
    assert.equal(await source.refresh(), false);
    assert.deepEqual(Buffer.from(source.bytes), other);
    assert.equal(errors.length, 2);
    assert.match(errors[0], /the bundle cannot be loaded: not an Omnirule bundle/);
    assert.match(errors[1], /answered 503/);
    // Nothing to fall back on: load() says so.
    const empty = new BundleSource(url, { cacheName: null });
    await assert.rejects(empty.load(), /no bundle could be loaded/);
  } finally {
    source.stop();
    server.close();
  }
});
