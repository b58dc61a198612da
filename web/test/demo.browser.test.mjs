// The demo page in real headless Chromium (Debian's `chromium`, driven by playwright-core):
// product views change the hero slot, memory is stored only with consent and removed when it
// is withdrawn, hostile text stays text. Screenshots go to target/screenshots/.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { serve } from "../demo/serve.mjs";
import { root } from "./helpers.mjs";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = join(root, "target", "screenshots");
mkdirSync(shots, { recursive: true });
if (!existsSync(join(root, "web", "demo", "shop.bundle"))) {
  throw new Error("web/demo/shop.bundle is missing: run scripts/build-web.sh --demo");
}

const HERO_DEFAULT = "Free delivery on orders over 50 EUR";
const HOSTILE = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>"'&`;

let server;
let context;
let page;
let profileDir;
const pageErrors = [];

before(async () => {
  ({ server, url: globalThis.demoUrl } = await serve());
  profileDir = mkdtempSync(join(tmpdir(), "omnirule-chromium-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
  page.on("dialog", (d) => {
    pageErrors.push(`a dialog opened: ${d.message()}`);
    d.dismiss();
  });
});

after(async () => {
  await context?.close();
  await new Promise((done) => (server ? server.close(done) : done()));
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

const text = (selector) => page.locator(selector).textContent();
const storage = () =>
  page.evaluate(() => Object.fromEntries(Object.entries({ ...localStorage })));
const events = () => page.evaluate(() => Number(document.body.dataset.events ?? 0));

async function backToCatalogue() {
  if (await page.locator("#product").isVisible()) await page.click("a.back");
  await page.waitForFunction(() => !document.getElementById("catalogue").hidden);
}

async function viewProduct(sku) {
  const before = await events();
  await backToCatalogue();
  await page.click(`#product-${sku}`);
  await page.waitForFunction((n) => Number(document.body?.dataset.events ?? 0) > n, before);
}

async function setConsent(purpose, on) {
  const box = page.locator(`#consent-${purpose}`);
  if (on) await box.check();
  else await box.uncheck();
}

test("the demo page loads: slots show their defaults, nothing is stored", async () => {
  await page.goto(globalThis.demoUrl);
  await page.waitForFunction(() => document.body?.dataset.ready === "true");
  assert.equal(await text("#hero"), HERO_DEFAULT);
  assert.equal(await page.locator("#hero strong").count(), 1, "the default keeps its markup");
  assert.deepEqual(await storage(), {});
  assert.equal(await page.evaluate(() => window.omniruleDemo.engine.storageAllowed), false);
  await page.screenshot({ path: join(shots, "demo-1-loaded.png"), fullPage: true });
});

test("viewing products records views and the hero slot changes with the rules", async () => {
  await viewProduct("SC-2"); // scarves: no hero rule
  assert.equal(await text("#hero"), HERO_DEFAULT);
  assert.match(await text("#explanation"), /generic_banner: condition false/);
  await viewProduct("SW-1"); // knitwear
  assert.equal(await text("#hero"), "Winter knitwear is here");
  assert.equal(await page.getAttribute("#hero", "data-omnirule-rule"), "generic_banner");
  assert.match(await text("#decisions"), /"rule": "generic_banner"/);
  // Without consent: no greeting, nothing personal, and the panel says why.
  assert.match(await text("#explanation"), /greeting: no consent \(personalisation\)/);
  assert.match(await text(".greeting"), /^Hello, welcome to the shop$/);
  assert.deepEqual(await storage(), {}, "no consent: nothing written");
  await page.screenshot({ path: join(shots, "demo-2-knitwear-hero.png"), fullPage: true });
  await viewProduct("HT-1"); // hats: back to the default, markup included
  assert.equal(await text("#hero"), HERO_DEFAULT);
  assert.equal(await page.locator("#hero strong").count(), 1);
  assert.equal(await page.getAttribute("#hero", "data-omnirule-rule"), null);
});

test("with consent, the visitor's memory is stored and survives a reload", async () => {
  await setConsent("personalisation", true);
  const key = await page.evaluate(() => window.omniruleDemo.engine.storageKey);
  assert.ok((await storage())[key] !== undefined, "consent given: the memory is stored");
  await viewProduct("SW-2");
  assert.equal(await text(".greeting"), "Welcome back, Mia");
  await viewProduct("SW-1");
  assert.equal(await text("#recent"), "Still thinking about SW-2?");
  const stored = JSON.parse((await storage())[key]);
  assert.deepEqual(stored.events.map((e) => e.fields.sku), ["SW-2", "SW-1"]);
  assert.equal(stored.format, "omnirule-memory");
  await page.screenshot({ path: join(shots, "demo-3-consent-memory.png"), fullPage: true });

  // A new page load starts from the stored memory: the first view already has history.
  await backToCatalogue();
  await page.reload();
  await page.waitForFunction(() => document.body?.dataset.ready === "true");
  assert.equal(await events(), 0, "the reload tracked nothing");
  await viewProduct("SC-2");
  assert.match(await text("#recent"), /^Still thinking about SW-[12]\?$/);
  const reloaded = JSON.parse((await storage())[key]);
  assert.deepEqual(reloaded.events.map((e) => e.fields.sku).sort(), ["SC-2", "SW-1", "SW-2"]);
});

test("withdrawing consent removes the stored memory", async () => {
  assert.notDeepEqual(await storage(), {});
  await setConsent("personalisation", false);
  assert.deepEqual(await storage(), {}, "localStorage is empty");
  await viewProduct("SW-2");
  assert.deepEqual(await storage(), {}, "and stays empty while tracking");
  assert.equal(await text("#recent"), "", "no personal slot without consent");
  assert.match(await text("#storage"), /^\(empty/);
  await page.screenshot({ path: join(shots, "demo-4-consent-withdrawn.png"), fullPage: true });
});

test("a hostile string in a decision is rendered as text, never as HTML", async () => {
  await page.fill("#first-name", HOSTILE);
  await page.click("#sign-in");
  await setConsent("personalisation", true);
  await viewProduct("SW-1");
  const greeting = page.locator(".greeting");
  assert.equal(await greeting.textContent(), `Welcome back, ${HOSTILE}`);
  assert.equal(await greeting.locator("*").count(), 0, "no element was created");
  assert.equal(await page.locator("img[src=x]").count(), 0);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "no script ran");
  const decisions = await text("#decisions");
  assert.ok(decisions.includes("Welcome back, <img src=x"), "the panel shows it as text too");
  await page.screenshot({ path: join(shots, "demo-5-hostile-as-text.png"), fullPage: true });
});

test("forget() from the page deletes the stored memory, leaving only a tombstone", async () => {
  const key = await page.evaluate(() => window.omniruleDemo.engine.storageKey);
  assert.ok(JSON.parse((await storage())[key]).events.length > 0);
  await page.click("#forget");
  const tombstone = JSON.parse((await storage())[key]);
  assert.deepEqual([tombstone.events, tombstone.firings, tombstone.seen], [[], [], []]);
  assert.ok(tombstone.erased, "the deletion is stored, so a stale copy merged later adds nothing");
  await viewProduct("SW-2");
  // The memory starts afresh (and is stored again, consent still given): no old history.
  assert.equal(await text("#recent"), "");
  const stored = JSON.parse((await storage())[key]);
  assert.deepEqual(stored.events.map((e) => e.fields.sku), ["SW-2"]);
});

test("the store visit fills the door screen only with location consent", async () => {
  await page.click("#store-visit");
  assert.equal(await text(".door"), "(the screen shows the store's logo)");
  await setConsent("location", true);
  await page.click("#store-visit");
  await page.waitForFunction(() =>
    document.querySelector(".door").textContent === "Welcome to berlin-mitte");
});

test("personalise(): a render hook, a root, and slots without a decision", async () => {
  const result = await page.evaluate(() => {
    const { personalise } = window.omniruleDemo;
    const box = document.createElement("div");
    box.innerHTML = '<p data-omnirule-slot="a"><b>default A</b></p>' +
      '<p data-omnirule-slot="b">default B</p><p data-omnirule-slot="c">default C</p>';
    document.body.append(box);
    const decisions = [
      { rule: "r1", action: "banner", params: { slot: "a", text: "first" }, group: null,
        experiment: null, variant: null },
      { rule: "r2", action: "banner", params: { slot: "a", text: "second" }, group: null,
        experiment: null, variant: null },
      { rule: "r3", action: "banner", params: { slot: "b", message: "<i>msg</i>" }, group: null,
        experiment: null, variant: null },
      { rule: "ctl", action: null, params: { slot: "c", text: "control" }, group: null,
        experiment: "x", variant: "control" },
    ];
    const seen = [];
    const shown = personalise(decisions, {
      root: box,
      render(slot, decision, element) {
        seen.push([slot, decision ? decision.rule : null, element.tagName]);
        return slot === "b"; // the page renders slot b itself
      },
    });
    const after = [...box.children].map((p) => p.innerHTML);
    personalise([], { root: box });
    const restored = [...box.children].map((p) => p.innerHTML);
    box.remove();
    return { shown, seen, after, restored };
  });
  assert.equal(result.shown, 1);
  assert.deepEqual(result.seen, [["a", "r1", "P"], ["b", "r3", "P"], ["c", null, "P"]]);
  assert.deepEqual(result.after, ["first", "default B", "default C"]);
  assert.deepEqual(result.restored, ["<b>default A</b>", "default B", "default C"]);
});

test("no error in the page", () => {
  assert.deepEqual(pageErrors, []);
});
