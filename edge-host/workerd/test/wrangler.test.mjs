// The worker as a Cloudflare user deploys it: wrangler.toml, worker.js, the browser package's
// files and a bundle, built by `wrangler deploy --dry-run` (offline: nothing is uploaded).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKERD = path.resolve(HERE, "..");
const ROOT = path.resolve(WORKERD, "..", "..");
const PKG = path.join(ROOT, "web", "pkg");
const WRANGLER = path.join(WORKERD, "node_modules", ".bin", "wrangler");
const CLI = process.env.OMNIRULE_CLI ?? path.join(ROOT, "target", "debug", "omnirule");

function project() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-wrangler-"));
  for (const f of ["worker.js", "wrangler.toml"]) fs.copyFileSync(path.join(WORKERD, f), path.join(dir, f));
  for (const f of ["omnirule.js", "omnirule_bg.wasm"]) fs.copyFileSync(path.join(PKG, f), path.join(dir, f));
  fs.cpSync(path.join(PKG, "snippets"), path.join(dir, "snippets"), { recursive: true });
  execFileSync(CLI, ["build", path.join(ROOT, "examples", "10-o2o-loop"), "-o", path.join(dir, "rules.bundle")], { stdio: "pipe" });
  return dir;
}

const dryRun = (dir) => execFileSync(WRANGLER, ["deploy", "--dry-run", "--outdir", "out"], {
  cwd: dir, encoding: "utf8", stdio: "pipe",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
});

test("wrangler deploy --dry-run builds the worker from wrangler.toml, offline", () => {
  const dir = project();
  try {
    const out = dryRun(dir);
    assert.match(out, /--dry-run: exiting now/);
    assert.match(out, /env\.ORIGIN \(shop-origin\)/);
    assert.match(out, /env\.OMNIRULE_ROUTES/);
    const built = fs.readdirSync(path.join(dir, "out"));
    assert.ok(built.includes("worker.js"), String(built));
    assert.ok(built.some((f) => f.endsWith("-rules.bundle")), "the bundle is a data module");
    assert.ok(built.some((f) => f.endsWith("-omnirule_bg.wasm")), "the engine is a wasm module");
    // A worker that does not build is a failure here (so the check above can fail).
    fs.writeFileSync(path.join(dir, "worker.js"), 'import x from "./missing.js";\nexport default { fetch: () => x };\n');
    assert.throws(() => dryRun(dir));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
