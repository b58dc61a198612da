// The Omnirule edge worker (workerd / Cloudflare Workers): personalises HTML on its way from the
// origin to the shopper, so a page arrives already personalised (no flicker, no JavaScript).
//
// Per request:
//   profile  <- the signed `X-Omnirule-Profile` header set by the upstream identity service, or
//               the signed `omnirule_profile` cookie it set at login (same token format);
//   memory   <- the signed `omnirule_mem` cookie (bound to the profile id);
//   event    <- GET of a page the `OMNIRULE_ROUTES` binding names (e.g. `/products/:sku`), its
//               fields from the path and the `OMNIRULE_CATALOG` binding; POST /omnirule/track:
//               the JSON event the page or app posts;
//   decisions = the same wasm engine as the browser package, the same bundle; logged as a JSON
//               line (console.log: Workers Logs, Logpush), not sent to the shopper;
//   response: every slot element rewritten as text (HTMLRewriter), the memory cookie updated.
//               Non-HTML responses pass through untouched.
//
// Everything site-specific comes from bindings (`env`; README.md lists them): the routes and
// their catalog, the cookie, header and slot attribute names, the secret. `handle(request,
// env)` is exported for a worker of one's own that serves other routes first.
//
// The bundle is a module of this worker, loaded at start-up: a bad bundle throws here, at module
// evaluation, and workerd refuses to start the service, rather than serving pages that are
// silently not personalised. See edge-host/workerd/README.md.

import { initSync, Engine, slotTexts } from "./omnirule.js";
import wasmModule from "./omnirule_bg.wasm";
import bundleBytes from "./rules.bundle";

initSync({ module: wasmModule });

const BUNDLE = new Uint8Array(bundleBytes);
/**
 * Where exposures and conversions go (docs/report.md): with the `OMNIRULE_LOG_EXPOSURES`
 * binding set to "1", one JSON line per decision and per goal met on the worker's log
 * (console.log: Workers Logs, Logpush or `wrangler tail` collect it), for visitors whose
 * consents allow a memory. Set per request, because bindings reach a worker with its
 * requests; the engine is made before any.
 */
let exposureSink = null;
const logLine = (line) => console.log(JSON.stringify(line));
const ENGINE_OPTIONS = {
  storage: false,
  onExposure: (e) => exposureSink?.(e),
  onConversion: (c) => exposureSink?.(c),
  channel: "web",
  host: "edge",
};
// Throws (and so fails start-up) with the engine's own message for a bad bundle.
const unverified = Engine.fromBundle(BUNDLE, ENGINE_OPTIONS);
/**
 * The engine requests use: the bundle above, once `ready` has checked its signature when the
 * `OMNIRULE_TRUSTED_KEYS` binding names keys (bindings reach a worker with its first request,
 * and WebCrypto's check is asynchronous, so it cannot happen at start-up).
 */
let engine = null;
let verifying = null;

/** null when the engine is ready; otherwise the 503 to answer (an untrusted bundle). */
async function ready(env) {
  if (engine !== null) return null;
  const keys = String(env.OMNIRULE_TRUSTED_KEYS ?? "").split(/[\s,]+/).filter(Boolean);
  if (keys.length === 0) {
    engine = unverified;
    return null;
  }
  verifying ??= (async () => Engine.fromSignedBundle(BUNDLE, { ...ENGINE_OPTIONS, trustedKeys: keys }))();
  try {
    const checked = await verifying;
    // Requests that arrived meanwhile all waited on the same check: the first one through
    // switches engines and frees the unchecked copy, once.
    if (engine === null) {
      engine = checked;
      unverified.free();
    }
    return null;
  } catch (e) {
    return json(503, { error: String(e.message ?? e) });
  }
}

/** Cookies are limited to about 4 KB; the memory cookie stays under this many characters. */
const MEMORY_COOKIE_LIMIT = 3800;

/** The names a site may change, from bindings (defaults in README.md). */
function names(env) {
  return {
    memoryCookie: env.OMNIRULE_MEMORY_COOKIE ?? "omnirule_mem",
    profileCookie: env.OMNIRULE_PROFILE_COOKIE ?? "omnirule_profile",
    profileHeader: (env.OMNIRULE_PROFILE_HEADER ?? "x-omnirule-profile").toLowerCase(),
    slotAttribute: env.OMNIRULE_SLOT_ATTRIBUTE ?? "data-omnirule-slot",
  };
}
/** The largest body `/omnirule/track` reads, counted on the bytes received. */
const MAX_EVENT_BYTES = 64 * 1024;
/**
 * How far into the future an event's `time` may be (the `OMNIRULE_MAX_FUTURE_MS` binding, by
 * default five minutes): a page's clock may run a little ahead, but an event dated years ahead
 * would make the memory prune everything older than it.
 */
const DEFAULT_MAX_FUTURE_MS = 5 * 60 * 1000;
/** The longest customer id the engine accepts (`MAX_ID_BYTES`), in bytes. */
const MAX_ID_BYTES = 256;

// ----- signed tokens: base64url(payload) "." issued "." base64url(HMAC-SHA256(secret,
// purpose ":" issued ":" base64url(payload))), `issued` in seconds since the epoch ----------

const encoder = new TextEncoder();
let keyPromise;

function hmacKey(env) {
  if (!env.OMNIRULE_SECRET) {
    throw new Error("omnirule edge: the OMNIRULE_SECRET binding is not set");
  }
  keyPromise ??= crypto.subtle.importKey(
    "raw", encoder.encode(env.OMNIRULE_SECRET), { name: "HMAC", hash: "SHA-256" }, false,
    ["sign", "verify"]);
  return keyPromise;
}

function b64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The bytes of base64url text, or null for anything else (never an exception). */
function unb64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  let s;
  try {
    s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return null;
  }
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * How long a token is good for after it was issued, in seconds: the `OMNIRULE_TOKEN_MAX_AGE_S`
 * binding, by default 90 days. A profile token is re-issued at each login, a memory token at
 * each page the visitor sees.
 */
const DEFAULT_TOKEN_MAX_AGE_S = 90 * 24 * 3600;
/** A token issued this far ahead of the worker's clock is still accepted (clock skew). */
const TOKEN_SKEW_S = 300;

function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

function tokenMaxAge(env) {
  const n = Number(env.OMNIRULE_TOKEN_MAX_AGE_S ?? DEFAULT_TOKEN_MAX_AGE_S);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_TOKEN_MAX_AGE_S;
}

/** `body "." issued "." mac`, where the MAC covers the purpose, the issue time and the body. */
async function sign(env, purpose, payload, issued = nowSeconds()) {
  const body = b64url(payload);
  const sig = await crypto.subtle.sign(
    "HMAC", await hmacKey(env), encoder.encode(`${purpose}:${issued}:${body}`));
  return `${body}.${issued}.${b64url(new Uint8Array(sig))}`;
}

/**
 * The payload bytes of a token signed for `purpose`, or null when absent, malformed, tampered,
 * issued in the future or older than the maximum age. Never throws.
 */
async function verify(env, purpose, token) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const [body, issuedText, sigText] = parts;
  // At most 12 digits: seconds until the year 33658, and never a float or an exponent.
  if (!/^[0-9]{1,12}$/.test(issuedText)) return null;
  const issued = Number(issuedText);
  const now = nowSeconds();
  if (issued > now + TOKEN_SKEW_S || now - issued > tokenMaxAge(env)) return null;
  const sig = unb64url(sigText);
  // An HMAC-SHA256 is 32 bytes: anything else is not a signature of ours.
  if (sig === null || sig.length !== 32) return null;
  const ok = await crypto.subtle.verify(
    "HMAC", await hmacKey(env), sig, encoder.encode(`${purpose}:${issuedText}:${body}`));
  return ok ? unb64url(body) : null;
}

function cookies(request) {
  const out = new Map();
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

// ----- the visitor ----------------------------------------------------------------------------

/**
 * The visitor's profile and memory from the request. `rejected` names what was present but
 * failed its signature: it is ignored, never trusted.
 */
async function visitor(env, request) {
  const jar = cookies(request);
  const rejected = [];
  let profile = null;
  const token = request.headers.get(names(env).profileHeader) ?? jar.get(names(env).profileCookie);
  if (token !== undefined && token !== null) {
    const bytes = await verify(env, "profile", token);
    if (bytes === null) {
      rejected.push("profile");
    } else {
      profile = profileOf(bytes);
      if (profile === null) rejected.push("profile");
    }
  }
  let memory = null;
  const mem = jar.get(names(env).memoryCookie);
  if (mem !== undefined && profile !== null) {
    // The memory is signed together with the profile id: one visitor's cookie is worth
    // nothing to another.
    memory = await verify(env, `memory:${profile.id}`, mem);
    if (memory === null) rejected.push("memory");
  }
  return { profile, memory, rejected };
}

/**
 * A signed profile's payload as a profile: a JSON object with a string `id` the engine
 * accepts, or null. The signature says who made it, not that it is well formed.
 */
function profileOf(bytes) {
  let profile;
  try {
    profile = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  const ok =
    profile !== null &&
    typeof profile === "object" &&
    !Array.isArray(profile) &&
    typeof profile.id === "string" &&
    encoder.encode(profile.id).length <= MAX_ID_BYTES;
  return ok ? profile : null;
}

/**
 * Evaluates one event for the visitor. The engine is shared by every request of this isolate;
 * the calls below are synchronous, so no other request interleaves with them.
 */
function evaluate(profile, memory, event) {
  engine.reset();
  engine.setProfile(profile);
  if (memory !== null) engine.merge(memory);
  const out = JSON.parse(engine.trackJson(JSON.stringify(event)));
  return { out, memoryJson: engine.memoryJson(), memoryBytes: engine.memory() };
}

/**
 * The memory cookie, kept under MEMORY_COOKIE_LIMIT. When the memory is too large, the oldest
 * remembered events and the oldest de-duplication ids are dropped first, a tenth per round;
 * firing records, which enforce caps, are never dropped, so trimming cannot lift a cap. The
 * response says `X-Omnirule-Memory: trimmed N`. If firings alone exceed the limit, the cookie
 * is not rewritten (`X-Omnirule-Memory: over-limit`) and the visitor keeps the previous one.
 */
async function memoryCookie(env, profile, memoryJson, memoryBytes) {
  let bytes = memoryBytes;
  let token = await sign(env, `memory:${profile.id}`, bytes);
  let dropped = 0;
  if (token.length > MEMORY_COOKIE_LIMIT) {
    const doc = JSON.parse(memoryJson);
    const oldestFirst = (items) => items.map((e, i) => [e.time, e.id, i]).sort().map(([, , i]) => i);
    const dropOldest = (items) => {
      const n = Math.ceil(items.length / 10);
      const drop = new Set(oldestFirst(items).slice(0, n));
      return [items.filter((_, i) => !drop.has(i)), n];
    };
    while (token.length > MEMORY_COOKIE_LIMIT && (doc.events.length > 0 || doc.seen.length > 0)) {
      let n;
      [doc.events, n] = dropOldest(doc.events);
      dropped += n;
      [doc.seen] = dropOldest(doc.seen);
      const trimmed = Engine.withMemory(BUNDLE, JSON.stringify(doc), { storage: false });
      bytes = trimmed.memory();
      trimmed.free();
      token = await sign(env, `memory:${profile.id}`, bytes);
    }
  }
  const tooLarge = token.length > MEMORY_COOKIE_LIMIT;
  const cookie = tooLarge
    ? null
    : `${names(env).memoryCookie}=${token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${tokenMaxAge(env)}`;
  return { cookie, dropped, tooLarge };
}

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

// ----- events from requests -------------------------------------------------------------------

/**
 * The routes of the `OMNIRULE_ROUTES` binding (JSON): `[{ "path": "/products/:sku", "event":
 * "page_view", "fields": { "sku": ":sku" }, "catalog": ":sku" }]`. A path's `:name` segments
 * match one segment each; a field value `":name"` is that segment; `catalog` names the key of
 * the `OMNIRULE_CATALOG` binding (an object) whose fields are added (no entry: no event). Parsed
 * once per binding value.
 */
let routesCache = { text: undefined, routes: [] };
function routes(env) {
  const text = env.OMNIRULE_ROUTES;
  if (text !== routesCache.text) {
    let parsed = [];
    try {
      parsed = typeof text === "string" ? JSON.parse(text) : (text ?? []);
    } catch (e) {
      console.error(`OMNIRULE_ROUTES is not valid JSON: ${e.message}`);
    }
    routesCache = {
      text,
      routes: (Array.isArray(parsed) ? parsed : []).map((r) => {
        const params = [];
        const pattern = String(r.path ?? "").split("/").map((part) => {
          if (!part.startsWith(":")) return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
          params.push(part.slice(1));
          return "([^/]+)";
        }).join("/");
        return { ...r, params, re: new RegExp(`^${pattern}$`) };
      }),
    };
  }
  return routesCache.routes;
}

/** The event a page of the routes stands for, or null (the origin answers, unpersonalised). */
function pageEvent(url, now, env) {
  for (const route of routes(env)) {
    const m = route.re.exec(url.pathname);
    if (!m) continue;
    const values = {};
    try {
      route.params.forEach((name, i) => { values[name] = decodeURIComponent(m[i + 1]); });
    } catch {
      return null;
    }
    const fill = (v) => (typeof v === "string" && v.startsWith(":") ? values[v.slice(1)] : v);
    const fields = Object.fromEntries(Object.entries(route.fields ?? {}).map(([k, v]) => [k, fill(v)]));
    if (route.catalog !== undefined) {
      const entry = env.OMNIRULE_CATALOG?.[fill(route.catalog)];
      if (!entry) return null; // not in the catalog: the origin answers for the path
      Object.assign(fields, entry);
    }
    return { ...fields, type: route.event ?? "page_view", id: crypto.randomUUID(), time: now };
  }
  return null;
}

/** What each slot shows: the browser package's own choice (`slotTexts`), so the edge and the
 * page render the same decisions the same way. */
function slotsOf(decisions) {
  return new Map(slotTexts(decisions).map((s) => [s.slot, s]));
}

/** Text for a double-quoted HTML attribute. */
function attribute(text) {
  return text.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");
}

/**
 * The page with its slots filled, and the event the edge evaluated for it in
 * `<meta name="omnirule-event">`: a page that records the view itself tracks that very event
 * (same id, time and fields), so the view is one remembered event once the page's memory and
 * the edge's are merged, not two.
 */
function personalise(response, slots, event, slotAttribute) {
  return new HTMLRewriter()
    .on("head", {
      element(el) {
        el.append(`<meta name="omnirule-event" content="${attribute(JSON.stringify(event))}">`, {
          html: true,
        });
      },
    })
    .on(`[${slotAttribute}]`, {
      element(el) {
        const hit = slots.get(el.getAttribute(slotAttribute));
        if (hit) {
          el.setInnerContent(hit.text, { html: false });
          el.setAttribute("data-omnirule-rule", hit.rule);
        }
      },
    })
    .transform(response);
}

// ----- handlers ----------------------------------------------------------------------------

async function track(request, env) {
  const v = await visitor(env, request);
  if (v.rejected.length > 0) {
    return json(400, { error: `rejected: the ${v.rejected.join(" and ")} signature does not match` });
  }
  if (v.profile === null) {
    return json(401, { error: "no profile: send the signed X-Omnirule-Profile header or cookie" });
  }
  const text = await bodyText(request, MAX_EVENT_BYTES);
  if (text === null) return json(413, { error: "the event is larger than 64 KiB" });
  let event;
  try {
    event = JSON.parse(text);
  } catch (e) {
    return json(400, { error: `the body is not JSON: ${e.message}` });
  }
  if (event && typeof event === "object" && !Array.isArray(event)) {
    event.id ??= crypto.randomUUID();
    event.time ??= Date.now();
    const at = typeof event.time === "string" ? Date.parse(event.time) : event.time;
    const ahead = Number(env.OMNIRULE_MAX_FUTURE_MS ?? DEFAULT_MAX_FUTURE_MS);
    if (typeof at === "number" && at > Date.now() + ahead) {
      return json(422, {
        error: `the event's time ${JSON.stringify(event.time)} is more than ${ahead} ms in the future`,
      });
    }
  }
  let result;
  try {
    result = evaluate(v.profile, v.memory, event);
  } catch (e) {
    return json(400, { error: e.message });
  }
  const c = await memoryCookie(env, v.profile, result.memoryJson, result.memoryBytes);
  return json(200, result.out, { ...cookieHeader(c), ...trimHeader(c) });
}

/**
 * The request's body as text, or null once more than `limit` bytes have arrived: counted on
 * the bytes read, since `Content-Length` may be absent (chunked) or wrong.
 */
async function bodyText(request, limit) {
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const parts = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(all);
}

function trimHeader(c) {
  if (c.tooLarge) return { "x-omnirule-memory": "over-limit" };
  return c.dropped > 0 ? { "x-omnirule-memory": `trimmed ${c.dropped}` } : {};
}

function cookieHeader(c) {
  return c.cookie === null ? {} : { "set-cookie": c.cookie };
}

async function page(request, env) {
  const origin = await env.ORIGIN.fetch(request);
  const type = origin.headers.get("content-type") ?? "";
  if (!type.startsWith("text/html")) return origin; // images, scripts, JSON: untouched
  const v = await visitor(env, request);
  const headers = {};
  if (v.rejected.length > 0) headers["x-omnirule-rejected"] = v.rejected.join(",");
  if (v.profile === null) {
    return withHeaders(origin, headers);
  }
  const url = new URL(request.url);
  const event = pageEvent(url, Date.now(), env);
  if (event === null) return withHeaders(origin, headers);
  let result;
  try {
    result = evaluate(v.profile, v.memory, event);
  } catch (e) {
    headers["x-omnirule-error"] = String(e.message).slice(0, 200);
    return withHeaders(origin, headers);
  }
  const c = await memoryCookie(env, v.profile, result.memoryJson, result.memoryBytes);
  Object.assign(headers, trimHeader(c));
  // The decisions and the event the edge made up for this page go to the worker's log (Workers
  // Logs, Logpush), not to the shopper; a test or demo set-up may ask for them in headers too.
  if (env.OMNIRULE_LOG_DECISIONS !== "0") {
    // No customer id: an operational log, kept for visitors with and without consent alike
    // (the exposure log, for those with it, is OMNIRULE_LOG_EXPOSURES's).
    console.log(JSON.stringify({ kind: "decisions", event, decisions: result.out.decisions }));
  }
  if (env.OMNIRULE_DEBUG_HEADERS === "1") {
    headers["x-omnirule-decisions"] = encodeURIComponent(JSON.stringify(result.out.decisions));
    headers["x-omnirule-event"] = encodeURIComponent(JSON.stringify(event));
  }
  const rewritten = personalise(origin, slotsOf(result.out.decisions), event, names(env).slotAttribute);
  const out = new Response(rewritten.body, rewritten);
  if (c.cookie !== null) out.headers.append("set-cookie", c.cookie);
  for (const [k, val] of Object.entries(headers)) out.headers.set(k, val);
  return out;
}

/** What the visitor's cookie holds, as JSON: a customer may ask what is kept about them. */
async function memoryReport(request, env) {
  const v = await visitor(env, request);
  if (v.rejected.length > 0) {
    return json(400, { error: `rejected: the ${v.rejected.join(" and ")} signature does not match` });
  }
  if (v.profile === null) return json(401, { error: "no profile" });
  try {
    engine.reset();
    engine.setProfile(v.profile);
    if (v.memory !== null) engine.merge(v.memory);
  } catch (e) {
    return json(400, { error: e.message });
  }
  return new Response(engine.memoryJson(), { headers: { "content-type": "application/json" } });
}

/**
 * `POST /omnirule/forget`: the visitor's memory cookie becomes a tombstone (the engine's
 * `forget()`), so that what the cookie held is gone and a merge of an older copy elsewhere
 * brings nothing back. The profile token is the identity service's to revoke.
 */
async function forget(request, env) {
  const v = await visitor(env, request);
  if (v.rejected.includes("profile")) {
    return json(400, { error: "rejected: the profile signature does not match" });
  }
  if (v.profile === null) return json(401, { error: "no profile" });
  let tombstone;
  try {
    engine.reset();
    engine.setProfile(v.profile);
    // A memory cookie that fails its check is erased all the same: nothing of it is read.
    if (v.memory !== null) engine.merge(v.memory);
    engine.forget();
    tombstone = { json: JSON.parse(engine.memoryJson()), bytes: engine.memory() };
  } catch (e) {
    return json(400, { error: e.message });
  }
  const token = await sign(env, `memory:${v.profile.id}`, tombstone.bytes);
  return json(200, { erased: tombstone.json.erased }, {
    "set-cookie": `${names(env).memoryCookie}=${token}; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=${tokenMaxAge(env)}`,
  });
}

function withHeaders(response, headers) {
  if (Object.keys(headers).length === 0) return response;
  const out = new Response(response.body, response);
  for (const [k, v] of Object.entries(headers)) out.headers.set(k, v);
  return out;
}

/**
 * The worker's whole job: the API under `/omnirule/`, pages personalised on their way from the
 * origin. Exported for a worker of one's own that serves other routes first.
 */
export async function handle(request, env) {
  const url = new URL(request.url);
  exposureSink = env.OMNIRULE_LOG_EXPOSURES === "1" ? logLine : null;
  const refused = await ready(env);
  if (refused !== null) {
    // An untrusted bundle personalises nothing: pages pass through, the API says why.
    if (url.pathname.startsWith("/omnirule/")) return refused;
    return env.ORIGIN.fetch(request);
  }
  if (url.pathname === "/omnirule/track") {
    if (request.method !== "POST") return json(405, { error: "POST an event here" });
    return track(request, env);
  }
  if (url.pathname === "/omnirule/memory" && request.method === "GET") {
    return memoryReport(request, env);
  }
  if (url.pathname === "/omnirule/forget") {
    if (request.method !== "POST") return json(405, { error: "POST here to forget the visitor" });
    return forget(request, env);
  }
  if (url.pathname === "/omnirule/health") {
    return json(200, { ok: true });
  }
  if (request.method !== "GET" && request.method !== "HEAD") {
    return env.ORIGIN.fetch(request);
  }
  return page(request, env);
}

export default {
  fetch: (request, env) => handle(request, env),
};
