// The O2O demo's shop: the origin behind the edge worker, and the shop's backend.
//
// - Pages: the demo shop of web/demo in its "o2o" mode (/config.json), with real product URLs
//   (/products/SKU serve the shop page, which the edge personalises on the way out) and the
//   bundle of examples/10-o2o-loop at /o2o.bundle.
// - The identity service: /api/session signs the visitor's profile into the `omnirule_profile`
//   cookie with the secret it shares with the edge (the token format of
//   edge-host/workerd/README.md), so the edge knows who is browsing.
// - The shop's backend, the web's member of the fleet through the online node (an
//   omnirule-store with `--site web`; a token with the scopes `sync` and `read`, no admin):
//     POST /api/handoff  web -> fleet: the page's memory (the body) and the edge cookie's memory
//                        are merged into the online node's (POST /v1/customers/{id}/merge), which
//                        folds them into the fleet's view that every store reads;
//     POST /api/sync     fleet -> web: the online node's view (GET /v1/customers/{id}: what every
//                        store added) is returned for the page to merge, and merged into the
//                        edge's memory cookie;
//     POST /api/store/beacon, /api/store/purchase  for a person clicking through the shop: the
//                        devices of one store (the entrance beacon, the till) posting to it.
// Listens on 127.0.0.1 only.

import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import initWasm, { Engine } from "../web/pkg/omnirule.js";
import { handle as serveStatic } from "../web/demo/serve.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "..");
export const PRODUCTS = JSON.parse(fs.readFileSync(path.join(ROOT, "web/demo/products.json"), "utf8"));

const MEMORY_COOKIE = "omnirule_mem";
const PROFILE_COOKIE = "omnirule_profile";
/** As in edge-host/workerd/worker.js: a cookie holds about 4 KB. */
const MEMORY_COOKIE_LIMIT = 3800;

/** The edge's catalog for these products: `/products/SKU` -> the page_view's fields. */
export function edgeCatalog() {
  return Object.fromEntries(PRODUCTS.map((p) => [p.sku, { category: p.category, price: p.price }]));
}

// ----- signed tokens (edge-host/workerd/README.md) --------------------------------------------

export function sign(secret, purpose, payload, issued = Math.floor(Date.now() / 1000)) {
  const body = Buffer.from(payload).toString("base64url");
  const sig = crypto.createHmac("sha256", secret).update(`${purpose}:${issued}:${body}`).digest();
  return `${body}.${issued}.${sig.toString("base64url")}`;
}

/** The payload of a token signed for `purpose` (the issue time is the edge's to judge). */
export function verify(secret, purpose, token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3 || !/^[0-9]{1,12}$/.test(parts[1])) return null;
  const [body, issued, sig] = parts;
  const want = crypto.createHmac("sha256", secret).update(`${purpose}:${issued}:${body}`).digest();
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !crypto.timingSafeEqual(got, want)) return null;
  return Buffer.from(body, "base64url");
}

function cookies(req) {
  const out = new Map();
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

// ----- the store host's API -------------------------------------------------------------------

/** A client of the store host (edge-host/README.md). Rejects on any non-2xx but 404 for GETs. */
export function storeClient(url, token) {
  const call = async (method, p, body, { raw = false } = {}) => {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = raw ? "application/octet-stream" : "application/json";
    const r = await fetch(url + p, {
      method,
      headers,
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    });
    const text = await r.text();
    if (method === "GET" && r.status === 404) return null;
    if (!r.ok) throw new Error(`store host: ${method} ${p} -> ${r.status} ${text}`);
    return JSON.parse(text);
  };
  return {
    url,
    /** POST /v1/events: decisions for one event. */
    event: (customer, profile, event) => call("POST", "/v1/events", { customer, profile, event }),
    /** GET /v1/customers/{id}, or null when the store keeps nothing about them. */
    customer: (id) => call("GET", `/v1/customers/${encodeURIComponent(id)}`),
    /**
     * Waits until the host has folded what it changed into the fleet's view (its outbox is
     * empty; GET /readyz). A customer walking from the till to a screen takes longer.
     */
    settled: async (ms = 10000) => {
      const until = Date.now() + ms;
      for (;;) {
        const r = await call("GET", "/readyz").catch(() => null);
        if (r && (!r.fleet || (r.fleet.connected && r.fleet.outbox === 0))) return;
        if (Date.now() > until) throw new Error(`store host: not folded into the fleet: ${JSON.stringify(r.fleet)}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    /** POST /v1/customers/{id}/merge (scope `sync`): a memory as JSON text or bytes. */
    merge: (id, memory) =>
      call("POST", `/v1/customers/${encodeURIComponent(id)}/merge`, memory, { raw: true }),
  };
}

// ----- the server -----------------------------------------------------------------------------

function send(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
  res.end(JSON.stringify(body));
}

async function readBody(req, limit = 1 << 20) {
  const chunks = [];
  let size = 0;
  for await (const c of req) {
    size += c.length;
    if (size > limit) throw Object.assign(new Error("body too large"), { status: 413 });
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** Whether a memory (JSON text) remembers anything about the customer (events or firings). */
function remembers(memoryJson) {
  const m = JSON.parse(memoryJson);
  return m.events.length > 0 || m.firings.length > 0;
}

/**
 * Starts the shop on 127.0.0.1 (port 0: any free port).
 * `bundle`: the bundle file (examples/10-o2o-loop); `secret`: shared with the edge;
 * `online`: a storeClient of the fleet's online node (a token with the `sync` and `read`
 * scopes: the web's memory goes in, the fleet's view comes back); `store`: a storeClient of the
 * store the shop's "store" buttons play (its beacon and till). Resolves
 * `{ url, address, port, close }`.
 */
export async function startShop({ bundle, secret, online, store, rules = "examples/10-o2o-loop", port = 0 }) {
  const bundleBytes = fs.readFileSync(bundle);
  await initWasm({ module_or_path: fs.readFileSync(path.join(ROOT, "web/pkg/omnirule_bg.wasm")) });
  const config = { mode: "o2o", bundle: "/o2o.bundle", rules };

  const profileOf = (req) => {
    const bytes = verify(secret, "profile", cookies(req).get(PROFILE_COOKIE));
    return bytes ? JSON.parse(bytes.toString("utf8")) : null;
  };
  const profileCookie = (profile) =>
    `${PROFILE_COOKIE}=${sign(secret, "profile", JSON.stringify(profile))}; Path=/; HttpOnly; SameSite=Lax`;
  /** The edge's memory cookie of this request, as JSON text (null when absent or not signed by us). */
  const edgeMemory = (req, profile) => {
    const bytes = verify(secret, `memory:${profile.id}`, cookies(req).get(MEMORY_COOKIE));
    if (!bytes) return null;
    const engine = Engine.withMemory(bundleBytes, new Uint8Array(bytes), { storage: false });
    try {
      return engine.memoryJson();
    } finally {
      engine.free();
    }
  };

  const api = {
    "GET /api/session": async (req) => {
      const known = profileOf(req);
      if (known) return [200, known];
      // A new visitor: what a login would give, without any consent yet.
      const profile = { id: `visitor-${crypto.randomUUID().slice(0, 8)}`, tier: "silver", first_name: "Mia", consents: [] };
      return [200, profile, { "set-cookie": profileCookie(profile) }];
    },
    "PUT /api/session": async (req) => {
      const p = JSON.parse(await readBody(req));
      if (typeof p.id !== "string" || !/^[\w.-]{1,64}$/.test(p.id) || !Array.isArray(p.consents)) {
        return [400, { error: "a profile needs an id ([A-Za-z0-9_.-]) and consents" }];
      }
      const profile = { id: p.id, tier: String(p.tier ?? "silver"), consents: p.consents.map(String) };
      if (typeof p.first_name === "string" && p.first_name !== "") profile.first_name = p.first_name;
      return [200, profile, { "set-cookie": profileCookie(profile) }];
    },
    "POST /api/handoff": async (req, profile) => {
      // Checked (and made canonical) by the engine before anything is sent: a body that is not
      // a memory of this bundle is refused here.
      let page;
      try {
        const engine = Engine.withMemory(bundleBytes, await readBody(req), { storage: false });
        page = engine.memoryJson();
        engine.free();
      } catch (e) {
        return [400, { error: `not a memory: ${e.message ?? e}` }];
      }
      const edge = edgeMemory(req, profile);
      const out = { customer: profile.id, page: null, edge: null };
      // Only memories that remember something leave the web.
      if (remembers(page)) out.page = await online.merge(profile.id, page);
      if (edge !== null && remembers(edge)) out.edge = await online.merge(profile.id, edge);
      return [200, out];
    },
    "POST /api/sync": async (req, profile) => {
      // The online node answers with the fleet's view: what every store added.
      const kept = await online.customer(profile.id);
      if (kept === null) return [200, { customer: profile.id, memory: null, edge_cookie: false }];
      // The edge's cookie gets the join of what it holds and what the store holds.
      const engine = Engine.withMemory(bundleBytes, JSON.stringify(kept.memory), { storage: false });
      let token;
      try {
        const edge = edgeMemory(req, profile);
        if (edge !== null) engine.merge(edge);
        token = sign(secret, `memory:${profile.id}`, engine.memory());
      } finally {
        engine.free();
      }
      // Same attributes and bound as the edge's own cookie; an over-long memory is not sent
      // (the edge keeps its cookie; the page still gets the store's memory).
      const fits = token.length <= MEMORY_COOKIE_LIMIT;
      const cookie = `${MEMORY_COOKIE}=${token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=31536000`;
      return [200, { customer: profile.id, memory: kept.memory, edge_cookie: fits }, fits ? { "set-cookie": cookie } : {}];
    },
    "POST /api/store/beacon": async (req, profile) => {
      const event = { type: "beacon_enter", id: crypto.randomUUID(), time: Date.now(), store: "paris-01", zone: "entrance" };
      const out = await store.event(profile.id, profile, event);
      await store.settled();
      return [200, { event, ...out }];
    },
    "POST /api/store/purchase": async (req, profile) => {
      const { sku } = JSON.parse(await readBody(req));
      const product = PRODUCTS.find((p) => p.sku === sku);
      if (!product) return [400, { error: `no product ${sku}` }];
      const event = {
        type: "purchase", id: crypto.randomUUID(), time: Date.now(), sku, category: product.category,
        amount: product.price, channel: "store", store: "paris-01",
      };
      const out = await store.event(profile.id, profile, event);
      // The purchase reaches the web through the fleet: wait for the store to fold it.
      await store.settled();
      return [200, { event, ...out }];
    },
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://shop");
    try {
      if (req.method === "GET" && url.pathname === "/config.json") return send(res, 200, config);
      if (req.method === "GET" && url.pathname === "/o2o.bundle") {
        res.writeHead(200, { "content-type": "application/octet-stream", "cache-control": "no-store" });
        return res.end(bundleBytes);
      }
      const route = api[`${req.method} ${url.pathname}`];
      if (route) {
        const profile = url.pathname === "/api/session" ? null : profileOf(req);
        if (url.pathname !== "/api/session" && profile === null) {
          return send(res, 401, { error: "not signed in: GET /api/session first" });
        }
        const [status, body, headers] = await route(req, profile);
        return send(res, status, body, headers);
      }
      if (url.pathname.startsWith("/api/")) return send(res, 404, { error: `no route ${req.method} ${url.pathname}` });
      // Product pages are the shop page; the page shows the product from its URL.
      if (/^\/products\/[\w-]+$/.test(url.pathname)) req.url = "/";
      return serveStatic(req, res);
    } catch (e) {
      if (!res.headersSent) send(res, e.status ?? 500, { error: e.message });
      else res.destroy();
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const { port: bound } = server.address();
  return {
    url: `http://127.0.0.1:${bound}`,
    address: `127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
