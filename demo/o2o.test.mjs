// The O2O journey as a test: the real runtimes on 127.0.0.1 (shop origin and backend, the edge
// worker in workerd, the store host in wasmtime, headless Chromium), one customer's journey and
// a customer without consent, no pauses; each step's decisions are asserted, and every event each
// runtime evaluated is replayed through `omnirule run`. Run by scripts/test-o2o.sh.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ANA, JON, canonical, journey, missing, nativeCheck, startStack, stopAll } from "./lib.mjs";

const PROMO = "New knitwear: 10% off your first sweater";
const THANKS = "Thank you for your visit to our paris-01 store!";
const DEFAULT_HERO = "Free delivery on orders over 50 EUR";
const OFFER = "Hi Ana, the SW-1 you liked is 20% off here today";

let stack;
let result;
let processes;

before(async () => {
  const absent = missing();
  if (absent.length > 0) throw new Error(`cannot run the journey:\n${absent.join("\n")}`);
  stack = await startStack();
  processes = { store: stack.store, edge: stack.edge, shop: stack.shop };
  result = await journey(stack);
});

after(async () => {
  await stopAll();
});

/** [rule, slot/code, text] of each decision. */
const brief = (decisions) =>
  decisions.map((d) => [d.rule, d.params.slot ?? d.params.code, d.params.text ?? d.params.message]);

test("1. Ana's product pages arrive personalised by the edge, and the page's engine agrees", () => {
  const [sw1, sc2] = result.ana.views;
  assert.deepEqual(brief(sw1.edge), [["knitwear_promo", "hero", PROMO]]);
  assert.deepEqual(sw1.arrived, { text: PROMO, rule: "knitwear_promo" }, "the HTML as it left workerd");
  assert.deepEqual(brief(sw1.browser), [["knitwear_promo", "hero", PROMO]]);
  assert.deepEqual(sw1.shown, { text: PROMO, rule: "knitwear_promo" });
  assert.deepEqual(sc2.edge, [], "a scarf: no knitwear promotion");
  assert.deepEqual(sc2.browser, []);
  assert.deepEqual(sc2.arrived, { text: DEFAULT_HERO, rule: null });
});

test("1. with consent the browser package records the product views in localStorage", () => {
  const stored = JSON.parse(result.ana.storedAfterBrowsing);
  assert.deepEqual(stored.events.map((e) => [e.type, e.fields.sku]), [["page_view", "SW-1"], ["page_view", "SC-2"]]);
});

test("2. Ana's web memory reaches the store through the fleet (the online node, no admin token)", () => {
  const { handoff } = result.ana;
  assert.equal(handoff.sent, true);
  assert.equal(handoff.page.changed, true);
  assert.equal(handoff.page.remembered_events, 2, "the page's two views");
  // The page recorded the very events the edge evaluated (`<meta name="omnirule-event">`):
  // one view is one remembered event, wherever the memories meet.
  assert.equal(handoff.edge.remembered_events, 2, "the edge's views are the page's");
  // The store's memory before the beacon (recorded for the native check) holds the web's views.
  const beacon = result.records.find((r) => r.runtime === "store" && r.customer === "ana" && r.event.type === "beacon_enter");
  const skus = JSON.parse(beacon.memory).events.map((e) => e.fields.sku).sort();
  assert.deepEqual(skus, ["SC-2", "SW-1"]);
});

test("3. the entrance beacon: the store host offers the knitwear Ana looked at online", () => {
  assert.deepEqual(brief(result.ana.beacon), [["sweater_in_store", "KNIT20", OFFER]]);
  assert.equal(result.ana.beacon[0].params.sku, "SW-1");
});

test("4. after the purchase at the till, the next page says thank you instead of the promotion", () => {
  assert.deepEqual(result.ana.purchase, []);
  assert.ok(result.ana.sync.memory.events.some((e) => e.type === "purchase"), "the store's memory flowed back");
  assert.equal(result.ana.sync.edge_cookie, true);
  const { after: next } = result.ana;
  assert.deepEqual(brief(next.edge), [["thank_you", "hero", THANKS]], "the edge knew of the purchase");
  assert.deepEqual(next.arrived, { text: THANKS, rule: "thank_you" });
  assert.deepEqual(brief(next.browser), [["thank_you", "hero", THANKS]], "and so did the page");
  assert.deepEqual(next.shown, { text: THANKS, rule: "thank_you" });
  const stored = JSON.parse(result.ana.kept.browser);
  assert.ok(stored.events.some((e) => e.type === "purchase"), "the purchase is in the page's memory");
  assert.ok(result.ana.kept.edge.events.some((e) => e.type === "purchase"), "and in the edge's cookie");
});

test("5. Jon, without consent, gets nothing personal anywhere", () => {
  const { jon } = result;
  for (const v of [...jon.views, jon.after]) {
    assert.deepEqual([v.edge, v.browser], [[], []], v.sku);
    assert.deepEqual(v.arrived, { text: DEFAULT_HERO, rule: null });
    assert.deepEqual(v.shown, { text: DEFAULT_HERO, rule: null });
  }
  assert.deepEqual([jon.beacon, jon.purchase], [[], []]);
  assert.equal(jon.handoff.sent, false);
});

test("5. nothing Jon did is remembered: no event, no firing, in the page, the edge or the store", () => {
  const { kept } = result.jon;
  assert.equal(result.jon.storedAfterBrowsing, null);
  assert.equal(kept.browser, null, "localStorage");
  assert.deepEqual([kept.edge.events, kept.edge.firings, kept.edge.seen], [[], [], []], "the edge's cookie");
  assert.equal(kept.store, null, "the store host keeps no record of Jon, not even his profile");
  // The same checks hold something for Ana (so they can fail).
  assert.ok(result.ana.kept.browser !== null);
  assert.ok(result.ana.kept.edge.events.length > 0);
  assert.ok(result.ana.kept.store.memory.firings.length > 0);
});

test("every runtime agreed with the native engine on the same inputs", () => {
  const counts = {};
  for (const r of result.records) counts[r.runtime] = (counts[r.runtime] ?? 0) + 1;
  assert.deepEqual(counts, { edge: 6, browser: 6, store: 4 });
  assert.deepEqual(result.mismatches, []);
  // The check can fail: a record whose decisions were altered is reported.
  const altered = result.records.filter((r) => r.decisions.length > 0).map((r) => ({ ...r, decisions: [] }));
  assert.equal(altered.length, 5, "edge, browser and store offers and banners");
  assert.equal(nativeCheck(stack, altered).length, altered.length);
  assert.equal(canonical({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
});

test("no error in the pages", () => {
  assert.deepEqual([...result.ana.pageErrors, ...result.jon.pageErrors], []);
});

test("a person clicking through the shop: the store buttons close the same loop", async () => {
  const context = await stack.browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${stack.edge.url}/`);
    await page.waitForFunction(() => document.body?.dataset.ready === "true");
    // A new visitor is signed in without consent; giving both consents re-signs the session.
    await page.locator("#consent-marketing").check();
    await page.locator("#consent-location").check();
    await page.waitForFunction(() => window.omniruleDemo.engine.storageAllowed);
    await page.click("#product-SW-1");
    await page.waitForFunction(() => document.body?.dataset.ready === "true" && location.pathname === "/products/SW-1");
    assert.equal((await page.locator("#hero").textContent()).trim(), PROMO);
    await page.click("#o2o-enter");
    await page.waitForFunction(() => /KNIT20/.test(document.getElementById("o2o-log").textContent));
    assert.equal(await page.locator("[data-omnirule-slot=door-screen]").textContent(), "Hi Mia, the SW-1 you liked is 20% off here today");
    await page.click("#o2o-buy");
    await page.waitForFunction(() => /came back/.test(document.getElementById("o2o-log").textContent));
    await page.goto(`${stack.edge.url}/products/SW-2`);
    await page.waitForFunction(() => document.body?.dataset.ready === "true");
    assert.equal((await page.locator("#hero").textContent()).trim(), THANKS);
    assert.equal(await page.getAttribute("#hero", "data-omnirule-rule"), "thank_you");
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
});

test("everything started is stopped", async () => {
  await stopAll();
  for (const [name, url] of [["store", `${processes.store.url}/livez`], ["edge", `${processes.edge.url}/omnirule/health`], ["shop", `${processes.shop.url}/config.json`]]) {
    await assert.rejects(fetch(url, { signal: AbortSignal.timeout(2000) }), `${name} still answers`);
  }
  assert.equal(stack.browser.isConnected(), false, "Chromium is closed");
});
