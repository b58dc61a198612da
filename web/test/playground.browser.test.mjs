// The playground in real headless Chromium: it loads with no console error; a misspelt field
// gets the compiler's squiggle and its "did you mean" on hover; fixing it brings decisions to
// the timeline; the tests run; a shared link reopens the same rules, profile and events; it
// still loads offline. Screenshots go to target/screenshots/ (and docs/ with UPDATE_SCREENSHOTS=1).
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { serve } from "../playground/serve.mjs";
import { root } from "./helpers.mjs";

const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const shots = join(root, "target", "screenshots");
mkdirSync(shots, { recursive: true });
if (!existsSync(join(root, "web", "playground", "dist", "index.html"))) {
  throw new Error("web/playground/dist is missing: run `node web/playground/build.mjs`");
}

let server;
let url;
let context;
let page;
let profileDir;
const pageErrors = [];

before(async () => {
  server = await serve(0);
  url = `http://127.0.0.1:${server.address().port}/`;
  profileDir = mkdtempSync(join(tmpdir(), "omnirule-playground-"));
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
});

after(async () => {
  await context?.close();
  await new Promise((done) => (server ? server.close(done) : done()));
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
});

const shot = async (name) => {
  const path = join(shots, `${name}.png`);
  await page.screenshot({ path });
  if (process.env.UPDATE_SCREENSHOTS === "1") copyFileSync(path, join(root, "docs", `${name}.png`));
};

/** Replaces the editor's text as typing would (through CodeMirror, so the linter runs). */
async function setRules(text) {
  await page.evaluate((t) => {
    const v = window.playground.view;
    v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: t } });
  }, text);
}

const rules = () => page.evaluate(() => window.playground.view.state.doc.toString());

test("the playground loads an example, compiles it and plays its timeline", async () => {
  await page.goto(url);
  await page.waitForFunction(() => window.playground?.ready === true, null, { timeout: 30000 });
  await page.waitForSelector("#status.ok", { timeout: 10000 });
  assert.match(await rules(), /rule sweater_in_store/);
  // The O2O loop's timeline: the web banner, then the offer in the store, then a conversion.
  await page.waitForSelector("#timeline .decision");
  const text = await page.textContent("#timeline");
  assert.match(text, /knitwear_promo → banner/);
  assert.match(text, /sweater_in_store → offer/);
  assert.match(text, /goal purchase met/);
  assert.match(text, /Remembered: /);
  await shot("playground");
  assert.deepEqual(pageErrors, []);
});

test("a misspelt field gets the compiler's squiggle and hint; fixing it brings decisions back", async () => {
  const good = await rules();
  const bad = good.replace('event.category == "knitwear"', 'event.categroy == "knitwear"');
  assert.notEqual(bad, good);
  await setRules(bad);
  await page.waitForSelector(".cm-lintRange-error", { timeout: 5000 });
  await page.waitForSelector("#status.error");
  const problem = await page.textContent("#problems");
  assert.match(problem, /E0102/);
  assert.match(problem, /did you mean `category`\?/);
  // The hint on hover, at the exact span.
  await page.hover(".cm-lintRange-error");
  await page.waitForSelector(".cm-tooltip-lint", { timeout: 5000 });
  assert.match(await page.textContent(".cm-tooltip-lint"), /help: did you mean `category`\?/);
  const squiggled = await page.textContent(".cm-lintRange-error");
  assert.equal(squiggled, "categroy");
  await shot("playground-diagnostic");
  // Clicking the problem selects the span in the editor.
  await page.click("#problems .problem");
  const selected = await page.evaluate(() => {
    const { state } = window.playground.view;
    return state.sliceDoc(state.selection.main.from, state.selection.main.to);
  });
  assert.equal(selected, "categroy");
  await setRules(good);
  await page.waitForSelector("#status.ok");
  await page.waitForSelector("#timeline .decision");
  assert.equal(await page.$(".cm-lintRange-error"), null);
});

test("the profile's consents change the decisions; events can be added and shifted", async () => {
  // Without the location consent, no offer in the store (the example's second test).
  await page.uncheck('[data-consent="location"]');
  await page.waitForFunction(() => !document.querySelector("#timeline").textContent.includes("sweater_in_store → offer"));
  assert.match(await page.textContent("#timeline"), /sweater_in_store: no consent \(missing location\)/);
  await page.check('[data-consent="location"]');
  await page.waitForFunction(() => document.querySelector("#timeline").textContent.includes("sweater_in_store → offer"));
  const before = await page.$$eval("#timeline > li", (l) => l.length);
  await page.click("#add-event");
  assert.equal(await page.$$eval("#timeline > li", (l) => l.length), before + 1);
  const last = "#timeline > li:last-child";
  const time = await page.inputValue(`${last} input[aria-label=Time]`);
  await page.click(`${last} button[title="Shift by +1d"]`);
  const shifted = await page.inputValue(`${last} input[aria-label=Time]`);
  assert.equal(Date.parse(shifted) - Date.parse(time), 86400000);
  await page.click(`${last} button[title=Remove]`);
  assert.equal(await page.$$eval("#timeline > li", (l) => l.length), before);
});

test("the tests run with one click; a failing one says why", async () => {
  await page.click('nav [data-tab="tests"]');
  await page.click("#run-tests");
  await page.waitForSelector("#tests .test");
  assert.match(await page.textContent("#tests"), /3 passed, 0 failed/);
  const good = await rules();
  await setRules(good.replace('expect offer {\n    code: "KNIT20"', 'expect offer {\n    code: "KNIT30"'));
  await page.waitForSelector("#status.ok");
  await page.click("#run-tests");
  await page.waitForFunction(() => document.querySelector("#tests").textContent.includes("1 failed"));
  assert.match(await page.textContent("#tests"), /expected a decision `offer` with \{"code":"KNIT30"/);
  await setRules(good);
  await page.waitForSelector("#status.ok");
});

test("the rule graph is drawn and links back to the source", async () => {
  await page.click('nav [data-tab="graph"]');
  await page.waitForSelector("#graph svg");
  const ids = await page.$$eval("#graph .node", (n) => n.map((x) => x.dataset.id));
  for (const id of ["rule:knitwear_promo", "rule:sweater_in_store", "event:beacon_enter", "action:offer"]) {
    assert.ok(ids.includes(id), `${id} in ${ids}`);
  }
  await shot("playground-graph");
  await page.click('#graph .node[data-id="rule:sweater_in_store"]');
  const line = await page.evaluate(() => {
    const { state } = window.playground.view;
    return state.doc.lineAt(state.selection.main.head).text;
  });
  assert.match(line, /^rule sweater_in_store/);
});

test("a shared link reopens the same rules, profile and events, also offline", async () => {
  await page.click('nav [data-tab="try"]');
  const edited = (await rules()).replace("Thank you for your visit", "Thanks for visiting");
  await setRules(edited);
  await page.waitForSelector("#status.ok");
  await page.uncheck('[data-consent="location"]');
  await page.click("#share");
  await page.waitForFunction(() => location.hash.startsWith("#s="));
  const shared = await page.evaluate(() => location.href);
  // Another tab opens the link: the state comes from the link, not from this tab's storage.
  await page.evaluate(() => localStorage.clear());
  const second = await context.newPage();
  second.on("pageerror", (e) => pageErrors.push(String(e)));
  await second.goto(shared);
  await second.waitForFunction(() => window.playground?.ready === true, null, { timeout: 30000 });
  assert.equal(await second.evaluate(() => window.playground.view.state.doc.toString()), edited);
  assert.equal(await second.isChecked('[data-consent="location"]'), false);
  assert.deepEqual(
    await second.evaluate(() => window.playground.state().events),
    await page.evaluate(() => window.playground.state().events),
  );
  // Offline: once the service worker has cached the build, the page loads without the server.
  await second.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await context.setOffline(true);
  await second.reload();
  await second.waitForFunction(() => window.playground?.ready === true, null, { timeout: 30000 });
  await second.waitForSelector("#status.ok");
  await context.setOffline(false);
  await second.close();
  assert.deepEqual(pageErrors, []);
});
