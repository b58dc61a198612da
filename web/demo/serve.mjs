// A tiny static server for the demo: web/demo/ at `/`, the built package (web/pkg/) at `/pkg/`.
//
//   scripts/build-web.sh --demo && node web/demo/serve.mjs      (PORT=8080 by default)
//
// The browser test imports `serve()` and listens on a random port of 127.0.0.1.
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const demoDir = here;
export const pkgDir = process.env.OMNIRULE_PKG
  ? resolve(process.env.OMNIRULE_PKG)
  : resolve(here, "..", "pkg");

const types = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".bundle": "application/octet-stream",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

/** The file for a URL path, or null when it is outside the served folders or absent. */
function resolveFile(urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  let base = demoDir;
  let rest = decoded;
  if (decoded === "/pkg" || decoded.startsWith("/pkg/")) {
    base = pkgDir;
    rest = decoded.slice("/pkg".length);
  }
  if (rest === "" || rest.endsWith("/")) rest += "index.html";
  const file = normalize(join(base, rest));
  if (file !== base && !file.startsWith(base + sep)) return null;
  try {
    return statSync(file).isFile() ? file : null;
  } catch {
    return null;
  }
}

/** The request handler (the O2O demo's shop server delegates its static files to it). */
export function handle(req, res) {
  const url = new URL(req.url ?? "/", "http://localhost");
  const file = req.method === "GET" || req.method === "HEAD" ? resolveFile(url.pathname) : null;
  if (!file) {
    res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
    res.end("not found\n");
    return;
  }
  res.writeHead(200, {
    "content-type": types[extname(file)] ?? "application/octet-stream",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  createReadStream(file).pipe(res);
}

/** Starts the server; resolves to `{ server, url }`. */
export function serve({ port = 0, host = "127.0.0.1" } = {}) {
  return new Promise((resolveServer, reject) => {
    const server = createServer(handle);
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolveServer({ server, url: `http://${host}:${address.port}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const missing = [
    [join(pkgDir, "omnirule.js"), "the package (scripts/build-web.sh)"],
    [join(demoDir, "shop.bundle"), "the demo's bundle (scripts/build-web.sh --demo)"],
  ].filter(([path]) => !existsSync(path));
  for (const [path, what] of missing) console.error(`missing ${path}: build ${what}`);
  if (missing.length) process.exit(1);
  const { url } = await serve({ port: Number(process.env.PORT ?? 8080) });
  console.log(`Maison Laine (the Omnirule demo) at ${url}  (Ctrl-C to stop)`);
}
