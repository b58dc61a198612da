// A stand-in origin for the edge worker: a tiny shop on 127.0.0.1 whose pages carry
// `data-omnirule-slot` elements with their default content, plus non-HTML resources that the
// worker must pass through untouched.

import http from "node:http";

export const LOGO = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4]);

function page(title) {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body>
<h1 data-omnirule-slot="hero">Welcome to the shop</h1>
<p class="product">${title}</p>
<aside data-omnirule-slot="related"><em>Our picks</em></aside>
</body></html>
`;
}

/** Whether a path is valid percent-encoded text (a real shop answers 404 to the rest). */
function decodes(pathname) {
  try {
    decodeURIComponent(pathname);
    return true;
  } catch {
    return false;
  }
}

/** Starts the origin on 127.0.0.1 (port 0: any free port); resolves `{ address, port, close }`. */
export function startOrigin() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://origin");
    if (url.pathname === "/logo.png") {
      res.writeHead(200, { "content-type": "image/png", "content-length": LOGO.length });
      res.end(LOGO);
    } else if (url.pathname === "/api/stock") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ "SW-1": 3, slot: "<h1 data-omnirule-slot=\"hero\">json</h1>" }));
    } else if (url.pathname === "/" || (url.pathname.startsWith("/products/") && decodes(url.pathname))) {
      const body = page(url.pathname === "/" ? "Home" : decodeURIComponent(url.pathname.slice(10)));
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(body);
    } else {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({ address: `127.0.0.1:${port}`, port, close: () => new Promise((r) => server.close(r)) });
    });
  });
}
