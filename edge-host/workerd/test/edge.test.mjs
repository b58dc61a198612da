// The edge worker in real workerd, over HTTP on 127.0.0.1, against a stub origin:
// the O2O story (browse → personalised page → the cookie carries memory → a store purchase
// posted → the next page changes), tampering, pass-through, cookie bounds, start-up failure,
// and equality with the native engine for the same inputs.
//
// Needs: web/pkg (scripts/build-web.sh), target/debug/omnirule (cargo build -p omnirule-cli),
// node_modules (npm ci). scripts/test-edge.sh provides all three.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startEdge } from "../serve.mjs";
import { startOrigin, LOGO } from "../origin.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const CLI = path.join(ROOT, "target", "debug", "omnirule");
const SECRET = "test-secret-" + crypto.randomBytes(8).toString("hex");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-edge-test-"));
const bundle = path.join(work, "rules.bundle");

let origin;
let edge;

before(async () => {
  execFileSync(CLI, ["build", path.join(ROOT, "examples/10-o2o-loop"), "-o", bundle]);
  origin = await startOrigin();
  edge = await startEdge({ bundle, origin: origin.address, secret: SECRET });
});

after(async () => {
  await edge?.stop();
  await origin?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

// An independent implementation of the token format (worker.js has the other one).
function b64url(buf) {
  return Buffer.from(buf).toString("base64url");
}
function sign(purpose, payload, issued = Math.floor(Date.now() / 1000)) {
  const body = b64url(payload);
  const sig = crypto.createHmac("sha256", SECRET).update(`${purpose}:${issued}:${body}`).digest();
  return `${body}.${issued}.${b64url(sig)}`;
}
function profileToken(profile) {
  return sign("profile", Buffer.from(JSON.stringify(profile)));
}

/** A browser with a cookie jar of one site. */
class Visitor {
  constructor(profile) {
    this.headers = profile ? { "x-omnirule-profile": profileToken(profile) } : {};
    this.jar = new Map();
  }
  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  async fetch(pathname, init = {}) {
    const headers = { ...this.headers, ...(init.headers ?? {}) };
    if (this.jar.size > 0) headers.cookie = this.cookieHeader();
    const res = await fetch(edge.url + pathname, { ...init, headers });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const eq = pair.indexOf("=");
      this.jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  }
  async page(pathname) {
    const res = await this.fetch(pathname);
    return { res, html: await res.text() };
  }
  async track(event) {
    const res = await this.fetch("/omnirule/track", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(event),
    });
    return { res, body: await res.json() };
  }
}

/** Event times are milliseconds: make sure the next event is strictly later. */
function tick() {
  return new Promise((r) => setTimeout(r, 5));
}

function hero(html) {
  return /<h1 data-omnirule-slot="hero"[^>]*>(.*?)<\/h1>/s.exec(html)?.[1];
}

const ana = { id: "ana", tier: "silver", consents: ["marketing"] };

test("the O2O story: pages arrive personalised, the cookie carries memory, the next page changes", async () => {
  const v = new Visitor(ana);
  const first = await v.page("/products/SW-1");
  assert.equal(first.res.status, 200);
  assert.equal(hero(first.html), "New knitwear: 10% off your first sweater");
  assert.match(first.html, /data-omnirule-rule="knitwear_promo"/);
  assert.ok(v.jar.has("omnirule_mem"), "the memory travels in a cookie");
  // The page learns which event the edge evaluated, to record that same event (one view, one
  // remembered event): the one the edge also reports for logs.
  const meta = /<meta name="omnirule-event" content="([^"]*)">/.exec(first.html);
  assert.ok(meta, "the event is in the page's head");
  const inPage = JSON.parse(meta[1].replaceAll("&quot;", '"').replaceAll("&lt;", "<").replaceAll("&amp;", "&"));
  const logged = JSON.parse(decodeURIComponent(first.res.headers.get("x-omnirule-event")));
  assert.deepEqual(inPage, logged);
  assert.equal(inPage.type, "page_view");
  assert.equal(inPage.sku, "SW-1");
  // The customer buys the sweater in a store; the purchase reaches the edge (posted by the
  // store's systems through the page or app).
  await tick();
  const bought = await v.track({
    type: "purchase", id: "pos-1", time: Date.now(),
    sku: "SW-1", category: "knitwear", amount: 79, channel: "store", store: "paris-01",
  });
  assert.equal(bought.res.status, 200);
  assert.deepEqual(bought.body.decisions, []);
  // The purchase meets the web banner's goal: a conversion linked to the page view, whose
  // place (the edge) travelled in the cookie's memory.
  assert.equal(bought.body.conversions.length, 1);
  const [conversion] = bought.body.conversions;
  assert.equal(conversion.rule, "knitwear_promo");
  assert.equal(conversion.exposure_event, logged.id);
  assert.equal(conversion.exposure_channel, "web");
  assert.equal(conversion.exposure_host, "edge");
  assert.equal(conversion.value, 79);
  await tick();
  const next = await v.page("/products/SW-2");
  assert.equal(hero(next.html), "Thank you for your visit to our paris-01 store!");
  // Once only; and no knitwear promotion after a knitwear purchase: the default stays.
  const third = await v.page("/products/SW-3");
  assert.equal(hero(third.html), "Welcome to the shop");
});

test("a visitor without consent gets the page as the origin made it, and no memory", async () => {
  const v = new Visitor({ id: "jon", tier: "silver", consents: [] });
  const { html } = await v.page("/products/SW-1");
  assert.equal(hero(html), "Welcome to the shop");
  await v.track({ type: "purchase", id: "pos-2", time: Date.now() - 1000, sku: "SW-1",
    category: "knitwear", amount: 79, channel: "store", store: "paris-01" });
  const again = await v.page("/products/SW-2");
  assert.equal(hero(again.html), "Welcome to the shop");
  const kept = await (await v.fetch("/omnirule/memory")).json();
  assert.deepEqual([kept.events, kept.firings], [[], []], JSON.stringify(kept));
  // With consent, the same path is remembered (so the check above can fail).
  const ana2 = new Visitor({ ...ana, id: "ana2" });
  await ana2.page("/products/SW-1");
  await ana2.track({ type: "purchase", id: "pos-2b", time: Date.now() - 1000, sku: "SW-1",
    category: "knitwear", amount: 79, channel: "store", store: "paris-01" });
  const kept2 = await (await ana2.fetch("/omnirule/memory")).json();
  assert.ok(kept2.events.length >= 1, JSON.stringify(kept2));
});

test("decision text is inserted as text, never as HTML", async () => {
  const v = new Visitor({ id: "eve", tier: "silver", consents: ["marketing"] });
  await v.page("/products/SC-1");
  await tick();
  await v.track({ type: "purchase", id: "pos-3", time: Date.now(), sku: "SW-1",
    category: "knitwear", amount: 79, channel: "store", store: "<script>alert(1)</script>" });
  await tick();
  const { html } = await v.page("/products/SC-4");
  assert.equal(hero(html), "Thank you for your visit to our &lt;script&gt;alert(1)&lt;/script&gt; store!");
  assert.ok(!html.includes("<script>"), html);
});

test("tampered cookies and profiles are rejected, not trusted", async () => {
  const v = new Visitor(ana);
  await v.page("/products/SW-1");
  const [body, issued, sig] = v.jar.get("omnirule_mem").split(".");
  // Flip one bit of the memory: the signature no longer matches.
  const bytes = Buffer.from(body, "base64url");
  bytes[bytes.length - 1] ^= 1;
  const tampered = `${b64url(bytes)}.${issued}.${sig}`;
  v.jar.set("omnirule_mem", tampered);
  const r = await v.page("/products/SW-2");
  assert.equal(r.res.headers.get("x-omnirule-rejected"), "memory");
  // The page started from empty memory and replaced the cookie; tamper again for the API.
  v.jar.set("omnirule_mem", tampered);
  const t = await v.track({ type: "page_view", id: "x1", time: Date.now(), sku: "A", category: "b", price: 1 });
  assert.equal(t.res.status, 400);
  assert.match(t.body.error, /memory signature/);
  // Another visitor's memory cookie is not valid for ana either.
  const bob = new Visitor({ id: "bob", tier: "gold", consents: ["marketing"] });
  await bob.page("/products/SW-1");
  const stolen = new Visitor(ana);
  stolen.jar.set("omnirule_mem", bob.jar.get("omnirule_mem"));
  assert.equal((await stolen.page("/")).res.headers.get("x-omnirule-rejected"), "memory");
  // A forged profile (signed with another secret) is ignored: the page is not personalised.
  const forged = new Visitor(null);
  const body2 = b64url(Buffer.from(JSON.stringify({ id: "mallory", tier: "gold", consents: ["marketing"] })));
  const now = Math.floor(Date.now() / 1000);
  const badSig = crypto.createHmac("sha256", "wrong").update(`profile:${now}:${body2}`).digest();
  forged.headers["x-omnirule-profile"] = `${body2}.${now}.${b64url(badSig)}`;
  const f = await forged.page("/products/SW-1");
  assert.equal(f.res.headers.get("x-omnirule-rejected"), "profile");
  assert.equal(hero(f.html), "Welcome to the shop");
});

test("tokens carry an issue time: expired, future-dated and re-dated tokens are rejected", async () => {
  const now = Math.floor(Date.now() / 1000);
  const profile = Buffer.from(JSON.stringify(ana));
  const at = async (issued) => {
    const v = new Visitor(null);
    v.headers["x-omnirule-profile"] = sign("profile", profile, issued);
    return (await v.page("/products/SW-1")).res.headers.get("x-omnirule-rejected");
  };
  assert.equal(await at(now), null);
  assert.equal(await at(now - 89 * 24 * 3600), null, "within the default 90 days");
  assert.equal(await at(now - 91 * 24 * 3600), "profile", "older than 90 days");
  assert.equal(await at(now + 3600), "profile", "issued an hour from now");
  assert.equal(await at(now + 60), null, "a minute of clock skew is fine");
  // The issue time is under the MAC: re-dating a token breaks it.
  const [body, , sig] = sign("profile", profile, now - 91 * 24 * 3600).split(".");
  const redated = new Visitor(null);
  redated.headers["x-omnirule-profile"] = `${body}.${now}.${sig}`;
  assert.equal((await redated.page("/")).res.headers.get("x-omnirule-rejected"), "profile");
  // An old memory cookie (here 100 days) is not read: the page starts from empty memory.
  const v = new Visitor(ana);
  await v.page("/products/SW-1");
  const [mem] = v.jar.get("omnirule_mem").split(".");
  const old = sign(`memory:${ana.id}`, Buffer.from(mem, "base64url"), now - 100 * 24 * 3600);
  v.jar.set("omnirule_mem", old);
  assert.equal((await v.page("/")).res.headers.get("x-omnirule-rejected"), "memory");
});

test("forget turns the memory cookie into a tombstone that a stale copy cannot undo", async () => {
  const v = new Visitor(ana);
  await v.page("/products/SW-1");
  await v.page("/products/SW-2");
  const stale = v.jar.get("omnirule_mem");
  const before = JSON.parse(await (await v.fetch("/omnirule/memory")).text());
  assert.ok(before.events.length > 0, "something was remembered");
  assert.equal((await v.fetch("/omnirule/forget")).status, 405);
  const r = await v.fetch("/omnirule/forget", { method: "POST" });
  assert.equal(r.status, 200);
  const { erased } = await r.json();
  assert.ok(Date.parse(erased) >= Date.parse(before.newest), erased);
  const after = JSON.parse(await (await v.fetch("/omnirule/memory")).text());
  assert.deepEqual([after.events, after.firings, after.seen], [[], [], []]);
  assert.equal(after.erased, erased);
  // The stale cookie, merged into the tombstone by a store or the browser package, adds
  // nothing: what it held is dated before the deletion.
  fs.writeFileSync(path.join(work, "tombstone.json"), JSON.stringify(after));
  fs.writeFileSync(path.join(work, "stale.json"), JSON.stringify(before));
  const merged = JSON.parse(execFileSync(CLI, ["merge", bundle,
    path.join(work, "stale.json"), path.join(work, "tombstone.json")], { encoding: "utf8" }));
  assert.deepEqual([merged.events, merged.firings, merged.seen, merged.erased],
    [[], [], [], erased]);
  // Without a profile there is no one to forget.
  assert.equal((await new Visitor(null).fetch("/omnirule/forget", { method: "POST" })).status, 401);
  // The visitor's own stale cookie still reads at the edge (it is theirs, and signed): what
  // limits that is the fleet's view (see the README).
  v.jar.set("omnirule_mem", stale);
  assert.equal((await v.page("/")).res.headers.get("x-omnirule-rejected"), null);
});

test("malformed tokens, cookies, paths and bodies get a clean answer, never a 500", async () => {
  const status = async (v, pathname) => {
    const r = await v.page(pathname);
    assert.notEqual(r.res.status, 500, `${pathname}: ${r.html.slice(0, 200)}`);
    return r;
  };
  // Tokens that are not base64url, or whose signature is not 32 bytes.
  const bareSig = b64url(crypto.createHmac("sha256", SECRET).update("profile:e30").digest());
  for (const token of ["e30.a", "x.y", ".", "e30.", "e30", "%%%.%%%", "e30.AAAA", "a.b.c",
    "e30.1.AAAA", "e30.1e9.a", "e30.-1.a", "e30..a", "e30.1.2.3", `e30.${bareSig}`]) {
    const header = new Visitor(null);
    header.headers["x-omnirule-profile"] = token;
    const h = await status(header, "/products/SW-1");
    assert.equal(h.res.headers.get("x-omnirule-rejected"), "profile", token);
    const cookie = new Visitor(null);
    cookie.jar.set("omnirule_profile", token);
    const c = await status(cookie, "/");
    assert.equal(c.res.headers.get("x-omnirule-rejected"), "profile", token);
    const t = await cookie.track({ type: "page_view" });
    assert.equal(t.res.status, 400, token);
  }
  // Signed payloads that are no profile: not an object, no string id, an id the engine refuses.
  for (const payload of ["null", "[]", "5", '"ana"', "{}", '{"id": 5}', `{"id": "${"x".repeat(257)}"}`, "\xff"]) {
    const v = new Visitor(null);
    v.headers["x-omnirule-profile"] = sign("profile", Buffer.from(payload, "latin1"));
    const r = await status(v, "/products/SW-1");
    assert.equal(r.res.headers.get("x-omnirule-rejected"), "profile", payload);
    assert.equal((await v.fetch("/omnirule/memory")).status, 400, payload);
  }
  // A memory cookie that is not a token.
  const mem = new Visitor(ana);
  mem.jar.set("omnirule_mem", "a.b");
  assert.equal((await status(mem, "/")).res.headers.get("x-omnirule-rejected"), "memory");
  // A path that is not percent-encoded text, for a signed-in visitor.
  const path = await status(new Visitor(ana), "/products/%ZZ");
  assert.equal(path.res.status, 404);
  // A body over the limit is refused on the bytes that arrive, whatever Content-Length says
  // (here none: the body is chunked).
  const big = JSON.stringify({ type: "page_view", id: "big", sku: "x".repeat(70 * 1024) });
  const chunked = await new Promise((resolve, reject) => {
    const url = new URL(edge.url + "/omnirule/track");
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname, method: "POST",
        headers: { "x-omnirule-profile": profileToken(ana), "content-type": "application/json" } },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      });
    req.on("error", reject);
    for (let i = 0; i < big.length; i += 8192) req.write(big.slice(i, i + 8192));
    req.end();
  });
  assert.equal(chunked, 413);
});

test("non-HTML responses pass through untouched", async () => {
  const v = new Visitor(ana);
  const logo = await v.fetch("/logo.png");
  assert.deepEqual(Buffer.from(await logo.arrayBuffer()), LOGO);
  assert.equal(logo.headers.getSetCookie().length, 0);
  const api = await v.fetch("/api/stock");
  const text = await api.text();
  assert.match(text, /<h1 data-omnirule-slot=\\"hero\\">json<\/h1>/);
  assert.equal((await v.fetch("/missing")).status, 404);
});

test("the track endpoint refuses bad input with a clear JSON error", async () => {
  const v = new Visitor(ana);
  const bad = await v.fetch("/omnirule/track", { method: "POST", body: "{not json" });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /not JSON/);
  const unknown = await v.track({ type: "teleport", id: "t1", time: Date.now() });
  assert.equal(unknown.res.status, 400);
  assert.match(unknown.body.error, /teleport/);
  const typed = await v.track({ type: "page_view", id: "t2", time: Date.now(), sku: "A", category: "x", price: "cheap" });
  assert.equal(typed.res.status, 400);
  assert.match(typed.body.error, /price/);
  const anonymous = new Visitor(null);
  assert.equal((await anonymous.track({ type: "page_view" })).res.status, 401);
  // An event dated beyond the allowed clock skew (five minutes) is refused, not remembered.
  for (const time of ["9999-12-31T23:59:59Z", Date.now() + 3_600_000]) {
    const future = await v.track({ type: "page_view", id: `f-${time}`, time, sku: "A", category: "x", price: 1 });
    assert.equal(future.res.status, 422, String(time));
    assert.match(future.body.error, /in the future/);
  }
  const soon = await v.track({ type: "page_view", id: "soon", time: Date.now() + 60_000, sku: "A", category: "x", price: 1 });
  assert.equal(soon.res.status, 200);
});

test("the memory cookie stays bounded: the oldest events go first", async () => {
  const v = new Visitor({ id: "heavy", tier: "silver", consents: ["marketing"] });
  let trimmed = null;
  const t0 = Date.now() - 3_600_000;
  for (let i = 0; i < 150 && trimmed === null; i++) {
    const r = await v.track({ type: "page_view", id: `view-${String(i).padStart(4, "0")}-${"x".repeat(40)}`,
      time: t0 + i * 1000, sku: "SW-1", category: "knitwear", price: 79 });
    assert.equal(r.res.status, 200);
    trimmed = r.res.headers.get("x-omnirule-memory");
  }
  assert.match(trimmed ?? "", /^trimmed \d+$/, "150 long ids overflow a cookie, so trimming must happen");
  assert.ok(v.jar.get("omnirule_mem").length <= 3800);
});

test("the edge decides exactly what the native engine decides for the same inputs", async () => {
  const profile = { id: "nat", tier: "gold", first_name: "Nat", consents: ["marketing"] };
  const events = [
    { type: "page_view", id: "n1", time: "2026-11-18T10:00:00Z", sku: "SW-1", category: "knitwear", price: 79 },
    { type: "purchase", id: "n2", time: "2026-11-21T15:00:00Z", sku: "SW-1", category: "knitwear", amount: 79.9, channel: "store", store: "lyon-02" },
    { type: "page_view", id: "n3", time: "2026-11-22T09:00:00Z", sku: "SW-2", category: "knitwear", price: 89 },
    { type: "page_view", id: "n3", time: "2026-11-22T09:00:00Z", sku: "SW-2", category: "knitwear", price: 89 },
    { type: "page_view", id: "n4", time: "2026-11-22T09:05:00Z", sku: "SC-1", category: "scarves", price: 0.1 },
  ];
  const v = new Visitor(profile);
  const edgeOut = [];
  for (const e of events) {
    const r = await v.track(e);
    assert.equal(r.res.status, 200);
    edgeOut.push(JSON.stringify(r.body.decisions));
  }
  fs.writeFileSync(path.join(work, "nat.json"), JSON.stringify(profile));
  fs.writeFileSync(path.join(work, "nat.jsonl"), events.map((e) => JSON.stringify(e)).join("\n"));
  const native = execFileSync(CLI, ["run", bundle, "--profile", path.join(work, "nat.json"),
    "--events", path.join(work, "nat.jsonl")], { encoding: "utf8" })
    .trim().split("\n").map((l) => JSON.stringify(JSON.parse(l).decisions));
  assert.deepEqual(edgeOut.map(canonical), native.map(canonical));
  assert.ok(edgeOut.some((d) => d.includes("lyon-02")), "the journey decided something");
});

function canonical(text) {
  const sort = (v) => Array.isArray(v) ? v.map(sort)
    : v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])]))
    : v;
  return JSON.stringify(sort(JSON.parse(text)));
}

test("a bad bundle fails start-up with a clear message instead of serving unpersonalised pages", async () => {
  const broken = path.join(work, "broken.bundle");
  const bytes = fs.readFileSync(bundle);
  bytes[bytes.length - 5] ^= 0xff;
  fs.writeFileSync(broken, bytes);
  await assert.rejects(
    startEdge({ bundle: broken, origin: origin.address, secret: SECRET, timeoutMs: 10000 }),
    (e) => /bundle/i.test(e.message) && /workerd exited|did not answer/.test(e.message),
  );
});

test("with OMNIRULE_TRUSTED_KEYS only a bundle signed by a trusted key personalises", async () => {
  const key = path.join(work, "edge.key");
  const publicKey = execFileSync(CLI, ["keygen", "-o", key], { encoding: "utf8" }).trim();
  const signed = path.join(work, "signed.bundle");
  execFileSync(CLI, ["build", path.join(ROOT, "examples/10-o2o-loop"), "-o", signed, "--sign", key]);
  const run = async (bundlePath, check) => {
    const e = await startEdge({ bundle: bundlePath, origin: origin.address, secret: SECRET,
      trustedKeys: [publicKey] });
    try {
      await check(e);
    } finally {
      await e.stop();
    }
  };
  const ana2 = { id: "ana-signed", tier: "gold", consents: ["marketing", "location", "storage"] };
  const headers = { "x-omnirule-profile": profileToken(ana2) };
  await run(signed, async (e) => {
    const r = await fetch(`${e.url}/products/SW-1`, { headers });
    assert.equal(r.status, 200);
    assert.ok(r.headers.get("x-omnirule-decisions"), "personalised");
  });
  // The unsigned bundle: pages pass through as the origin made them, the API says why.
  await run(bundle, async (e) => {
    const page = await fetch(`${e.url}/products/SW-1`, { headers });
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("x-omnirule-decisions"), null);
    const api = await fetch(`${e.url}/omnirule/memory`, { headers });
    assert.equal(api.status, 503);
    assert.match((await api.json()).error, /not signed/);
    assert.equal((await fetch(`${e.url}/omnirule/health`)).status, 503, "not healthy");
  });
});

test("with OMNIRULE_LOG_EXPOSURES the worker logs one exposure line per decision", async () => {
  const e = await startEdge({ bundle, origin: origin.address, secret: SECRET, logExposures: true });
  try {
    const ana3 = { id: "ana-logged", tier: "gold", consents: ["marketing", "location"] };
    const r = await fetch(`${e.url}/products/SW-1`, { headers: { "x-omnirule-profile": profileToken(ana3) } });
    assert.equal(r.status, 200);
    const decisions = JSON.parse(decodeURIComponent(r.headers.get("x-omnirule-decisions")));
    assert.ok(decisions.length > 0);
    const event = JSON.parse(decodeURIComponent(r.headers.get("x-omnirule-event")));
    // Logged by workerd as it prints console.log; give the log a moment to arrive.
    let lines = [];
    for (let i = 0; i < 50 && lines.length < decisions.length; i++) {
      lines = e.output().split("\n").filter((l) => l.includes('"kind":"exposure"'))
        .map((l) => JSON.parse(l.slice(l.indexOf("{"))));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(lines.length, decisions.length, e.output());
    assert.deepEqual(lines.map((l) => l.rule), decisions.map((d) => d.rule));
    for (const l of lines) {
      assert.equal(l.customer, "ana-logged");
      assert.equal(l.event, event.id);
      assert.equal(l.channel, "web");
      assert.equal(l.host, "edge");
    }
    // A visitor without consent is not logged.
    const before = lines.length;
    await fetch(`${e.url}/products/SW-1`, { headers: { "x-omnirule-profile": profileToken({ id: "jon-logged", tier: "silver", consents: [] }) } });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(e.output().split("\n").filter((l) => l.includes('"kind":"exposure"')).length, before);
    assert.ok(!e.output().includes("jon-logged"));
  } finally {
    await e.stop();
  }
});

test("everything site-specific comes from bindings; decisions go to the log, not to the shopper", async () => {
  const e = await startEdge({
    bundle, origin: origin.address, secret: SECRET, debugHeaders: false,
    bindings: { OMNIRULE_MEMORY_COOKIE: "shop_mem", OMNIRULE_PROFILE_HEADER: "X-Shop-Profile" },
  });
  try {
    const ana4 = { id: "ana-bindings", tier: "gold", consents: ["marketing", "location"] };
    // The default header name no longer identifies anyone: the page passes through.
    const ignored = await fetch(`${e.url}/products/SW-1`, { headers: { "x-omnirule-profile": profileToken(ana4) } });
    assert.equal(ignored.headers.get("set-cookie"), null);
    const r = await fetch(`${e.url}/products/SW-1`, { headers: { "x-shop-profile": profileToken(ana4) } });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("set-cookie") ?? "", /^shop_mem=/, "the memory cookie's name is the binding's");
    assert.equal(r.headers.get("x-omnirule-decisions"), null, "no decisions in response headers");
    assert.equal(r.headers.get("x-omnirule-event"), null);
    let line;
    for (let i = 0; i < 50 && !line; i++) {
      line = e.output().split("\n").find((l) => l.includes('"kind":"decisions"'));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(line, e.output());
    const logged = JSON.parse(line.slice(line.indexOf("{")));
    assert.equal(logged.event.sku, "SW-1");
    assert.ok(logged.decisions.length > 0);
    assert.ok(!line.includes("ana-bindings"), "no customer id in the operational log");
  } finally {
    await e.stop();
  }
});
