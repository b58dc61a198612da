// Starts the edge worker in real workerd on 127.0.0.1, in front of an origin.
//
//   node edge-host/workerd/serve.mjs --bundle rules.bundle --origin 127.0.0.1:8080 \
//        [--port 8787] [--catalog catalog.json] [--secret S]
//
// It assembles the worker's modules (worker.js, the browser package's wasm-bindgen output from
// web/pkg, the bundle, the catalog) in a fresh directory, writes the workerd config there and
// runs `workerd serve`. As a library, `startEdge(options)` does the same and resolves when the
// worker answers, with `{ url, stop, coldStartMs }`.

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import net from "node:net";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const WORKERD = path.join(HERE, "node_modules", ".bin", "workerd");
const PKG = path.join(ROOT, "web", "pkg");

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Copies the browser package's wasm-bindgen output (web/pkg) into `out` and returns the workerd
 * module entries for it: the JS glue, the wasm, and the JS snippets the glue imports.
 */
export function pkgModules(out) {
  const entries = [];
  const copy = (rel, kind) => {
    const from = path.join(PKG, rel);
    if (!fs.existsSync(from)) {
      throw new Error(`${from} is missing: build the browser package first (scripts/build-web.sh)`);
    }
    fs.mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
    fs.copyFileSync(from, path.join(out, rel));
    entries.push(`(name = "${rel}", ${kind} = embed "${rel}")`);
  };
  copy("omnirule.js", "esModule");
  copy("omnirule_bg.wasm", "wasm");
  const walk = (rel) => {
    for (const e of fs.readdirSync(path.join(PKG, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, e.name);
      if (e.isDirectory()) walk(child);
      else if (e.name.endsWith(".js")) copy(child, "esModule");
    }
  };
  if (fs.existsSync(path.join(PKG, "snippets"))) walk("snippets");
  return entries;
}

/**
 * The shop's routes (the demo's and the tests'): a product page is a `page_view` of its SKU with
 * the catalog's fields; the home page one of the catalog's "/" entry. The worker itself knows no
 * shop: these reach it as the `OMNIRULE_ROUTES` and `OMNIRULE_CATALOG` bindings.
 */
export const SHOP_ROUTES = [
  { path: "/products/:sku", event: "page_view", fields: { sku: ":sku" }, catalog: ":sku" },
  { path: "/", event: "page_view", catalog: "/" },
];

function config({ port, origin, secret, modules, trustedKeys, logExposures, catalogText, bindings = {}, debugHeaders = true }) {
  const text = { ...(debugHeaders ? { OMNIRULE_DEBUG_HEADERS: "1" } : {}), ...bindings };
  const keys = (trustedKeys
    ? `,\n    (name = "OMNIRULE_TRUSTED_KEYS", text = ${JSON.stringify(trustedKeys.join(","))})`
    : "") + (logExposures ? `,\n    (name = "OMNIRULE_LOG_EXPOSURES", text = "1")` : "")
    + Object.entries(text).map(([k, v]) => `,\n    (name = ${JSON.stringify(k)}, text = ${JSON.stringify(v)})`).join("");
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "omnirule-edge", worker = .edge),
    (name = "origin", external = (address = "${origin}", http = ())),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "omnirule-edge") ],
);

const edge :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    ${modules.join(",\n    ")},
    (name = "rules.bundle", data = embed "rules.bundle"),
  ],
  bindings = [
    (name = "ORIGIN", service = "origin"),
    (name = "OMNIRULE_SECRET", text = ${JSON.stringify(secret)}),
    (name = "OMNIRULE_ROUTES", text = ${JSON.stringify(JSON.stringify(SHOP_ROUTES))}),
    (name = "OMNIRULE_CATALOG", json = ${JSON.stringify(JSON.stringify(JSON.parse(catalogText)))})${keys},
  ],
  compatibilityDate = "2025-01-01",
);
`;
}

/**
 * Assembles the worker directory; returns its path. `bindings`: more text bindings (cookie
 * names, ...); `debugHeaders` (default true: the tests and the demo read the decisions back
 * from response headers) sets OMNIRULE_DEBUG_HEADERS.
 */
export function assemble({ bundle, catalog, port, origin, secret, dir, trustedKeys, logExposures, bindings, debugHeaders }) {
  const out = dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-edge-"));
  const modules = pkgModules(out);
  fs.copyFileSync(path.join(HERE, "worker.js"), path.join(out, "worker.js"));
  fs.copyFileSync(bundle, path.join(out, "rules.bundle"));
  const catalogText = fs.readFileSync(catalog ?? path.join(HERE, "catalog.json"), "utf8");
  fs.writeFileSync(path.join(out, "config.capnp"), config({ port, origin, secret, modules, trustedKeys, logExposures, catalogText, bindings, debugHeaders }));
  return out;
}

/**
 * Starts workerd and waits until the worker answers /omnirule/health. Rejects with workerd's own
 * output when it exits first (e.g. a bad bundle fails start-up).
 */
export async function startEdge({ bundle, catalog, origin, secret = "dev-secret", port, timeoutMs = 20000, trustedKeys, logExposures, bindings, debugHeaders }) {
  if (!fs.existsSync(WORKERD)) {
    throw new Error(`${WORKERD} is missing: run npm ci in edge-host/workerd`);
  }
  port ??= await freePort();
  const dir = assemble({ bundle, catalog, port, origin, secret, trustedKeys, logExposures, bindings, debugHeaders });
  const started = performance.now();
  const child = spawn(WORKERD, ["serve", path.join(dir, "config.capnp")], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`workerd exited (${child.exitCode}) before serving:\n${output}`);
    }
    try {
      const r = await fetch(`${url}/omnirule/health`);
      // 503: serving, with a bundle it will not use (untrusted): the caller looks at that.
      if (r.ok || r.status === 503) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`workerd did not answer within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { url, port, stop, coldStartMs: performance.now() - started, output: () => output };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : fallback;
  };
  const bundle = arg("bundle");
  const origin = arg("origin");
  if (!bundle || !origin) {
    console.error("usage: node serve.mjs --bundle FILE --origin HOST:PORT [--port N] [--catalog F] [--secret S]");
    process.exit(2);
  }
  const edge = await startEdge({
    bundle, origin, catalog: arg("catalog"), secret: arg("secret", "dev-secret"),
    port: arg("port") ? Number(arg("port")) : undefined,
  });
  console.log(`edge worker on ${edge.url} (origin ${origin}), started in ${edge.coldStartMs.toFixed(0)} ms`);
  const quit = async () => { await edge.stop(); process.exit(0); };
  process.on("SIGINT", quit);
  process.on("SIGTERM", quit);
}
