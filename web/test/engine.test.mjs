// The browser package in Node: the same engine behaviour as the native CLI, byte for byte, and
// the JavaScript API's contract (errors, the JS edge's clock and ids, memory, forget, merge).
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import {
  buildExample,
  canonical,
  examples,
  loadPackage,
  omnirule,
  readEvents,
  root,
  scratch,
  writeScratch,
} from "./helpers.mjs";

const omni = await loadPackage();
const { Engine, personalise } = omni;

// Every example that comes with a profile and events to play through `omnirule run`.
const exampleNames = readdirSync(examples, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .filter((name) => ["profile.json", "events.jsonl"]
    .every((f) => existsSync(join(examples, name, f))))
  .sort();
assert.ok(exampleNames.length >= 9, `examples found: ${exampleNames}`);

const consentFirst = buildExample("07-consent-first");
const mia = {
  id: "c1",
  first_name: "Mia",
  email: "mia@example.com",
  consents: ["personalisation", "marketing", "location"],
};
const view = (id, sku, category, time) => ({
  type: "page_view",
  id,
  time,
  sku,
  category,
  price: 79,
});

/** Runs the CLI and the package on the same inputs and compares every output byte for byte. */
function conformance(bundle, profile, eventsPath) {
  const profilePath = writeScratch(`profile-${Math.random().toString(36).slice(2)}.json`,
    JSON.stringify(profile));
  const memoryPath = join(scratch, `memory-${Math.random().toString(36).slice(2)}.json`);
  const lines = omnirule("run", bundle.path, "--profile", profilePath, "--events", eventsPath,
    "--explain", "--write-memory", memoryPath)
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
  const events = readEvents(eventsPath);
  assert.equal(lines.length, events.length, "one CLI output line per event");

  // Three ways through the package: the JSON wire call, objects with and without explanation.
  const wire = Engine.fromBundle(bundle.bytes, { profile });
  const explained = Engine.fromBundle(bundle.bytes, { profile });
  const tracked = Engine.fromBundle(bundle.bytes, { profile });
  let decisions = 0;
  events.forEach((event, i) => {
    const { event: id, ...expected } = lines[i];
    assert.equal(id, event.id);
    const want = canonical(expected);
    assert.equal(wire.trackJson(JSON.stringify(event), true), want, `event ${event.id} (wire)`);
    assert.equal(canonical(explained.explain(event)), want, `event ${event.id} (explain)`);
    assert.equal(canonical(tracked.track(event)), canonical(expected.decisions),
      `event ${event.id} (track)`);
    decisions += expected.decisions.length;
  });
  const memory = readFileSync(memoryPath, "utf8");
  assert.equal(wire.memoryJson(), memory, "memory (wire)");
  assert.equal(explained.memoryJson(), memory, "memory (explain)");
  assert.equal(tracked.memoryJson(), memory, "memory (track)");
  return { events: events.length, decisions };
}

for (const name of exampleNames) {
  test(`${name}: decisions, explanations and memory are the native CLI's, byte for byte`, () => {
    const dir = join(examples, name);
    const bundle = buildExample(name);
    const profile = JSON.parse(readFileSync(join(dir, "profile.json"), "utf8"));
    const { events } = conformance(bundle, profile, join(dir, "events.jsonl"));
    assert.ok(events > 0);
  });
}

test("07-consent-first with every consent: remembered history matches the CLI too", () => {
  const { decisions } = conformance(consentFirst, mia,
    join(examples, "07-consent-first", "events.jsonl"));
  assert.ok(decisions > 2, "a consenting visitor gets personal decisions");
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  engine.track(view("a", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  assert.match(engine.memoryJson(), /"SW-1"/, "the view is remembered");
});

test("a bad bundle is a clear JavaScript Error, never a crash", () => {
  const good = consentFirst.bytes;
  const corrupted = Uint8Array.from(good);
  corrupted[corrupted.length - 5] ^= 0xff;
  const cases = [
    [new Uint8Array([1, 2, 3, 4]), /not an Omnirule bundle/],
    [new Uint8Array(0), /not an Omnirule bundle|truncated/],
    [good.subarray(0, good.length >> 1), /truncated/],
    [corrupted, /corrupted|could not be decoded|invalid/],
    [new TextEncoder().encode("{}"), /not an Omnirule bundle/],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => Engine.fromBundle(bytes), (e) => {
      assert.ok(e instanceof Error, "an Error object");
      assert.match(e.message, /^omnirule: the bundle cannot be loaded: /);
      assert.match(e.message, message);
      return true;
    });
  }
  // The engine still works after refusing bundles.
  assert.equal(Engine.fromBundle(good).bundleHash.length, 64);
});

test("tracking needs a profile, and a profile or event off the schema is refused", () => {
  const engine = Engine.fromBundle(consentFirst.bytes);
  assert.equal(engine.profile(), undefined);
  assert.throws(() => engine.track(view("a", "SW-1", "knitwear", 0)), /no profile/);
  assert.throws(() => engine.setProfile({ consents: [] }), /lacks the required field `id`/);
  assert.throws(() => engine.setProfile({ id: "c9", consents: [], first_name: 7 }),
    /first_name/);
  engine.setProfile(mia);
  assert.deepEqual(engine.profile(), mia);
  engine.track(view("a", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  const before = engine.memoryJson();
  assert.throws(() => engine.track({ type: "nope" }), /unknown event type `nope`.*page_view/);
  assert.throws(() => engine.track({ ...view("b", "SW-2", "knitwear", 1), price: "free" }),
    /`price` should be/);
  assert.throws(() => engine.track({ ...view("c", "SW-2", "knitwear", 1), time: "yesterday" }),
    /not a valid time/);
  assert.throws(() => engine.track("page_view"), /must be a JSON object/);
  assert.throws(() => engine.trackJson("{not json"), /not valid JSON/);
  assert.equal(engine.memoryJson(), before, "refused input changes nothing");
});

test("an event without time or id gets Date.now() and a fresh id at the JS edge", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const before = Date.now();
  const decisions = engine.track({ type: "page_view", sku: "SW-1", category: "knitwear",
    price: 79 });
  const after = Date.now();
  assert.ok(decisions.some((d) => d.params.slot === "hero"));
  const kept = JSON.parse(engine.memoryJson());
  const text = JSON.stringify(kept);
  const times = [...text.matchAll(/"time":"([^"]+)"/g)].map((m) => Date.parse(m[1]));
  assert.ok(times.length > 0, `a remembered time in ${text}`);
  for (const t of times) assert.ok(t >= before && t <= after, `${t} within [${before}, ${after}]`);
  assert.match(text, /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/,
    "a UUID id");
  // An explicit time and id are used as given, and the caller's object is not modified.
  const event = view("given-id", "SW-2", "knitwear", "2026-11-20T10:05:00Z");
  const copy = { ...event };
  engine.track(event);
  assert.deepEqual(event, copy);
  assert.match(engine.memoryJson(), /"given-id"/);
});

test("decisions are plain JavaScript objects in decision order", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const decisions = engine.track(view("e1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  assert.ok(Array.isArray(decisions));
  assert.deepEqual(decisions.map((d) => d.rule), ["greeting", "generic_banner"]);
  for (const d of decisions) {
    assert.equal(Object.getPrototypeOf(d), Object.prototype);
    assert.equal(Object.getPrototypeOf(d.params), Object.prototype);
    assert.equal(d.group, null);
  }
  assert.deepEqual(decisions[0].params, { slot: "greeting", text: "Welcome back, Mia" });
});

test("constant decisions cross once and come back as fresh, identical objects", () => {
  // The same visitor and events through track() (constant decisions sent by number after the
  // first time) and trackJson() (the canonical text every runtime writes).
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const wire = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  let previous;
  for (let i = 0; i < 4; i++) {
    const event = view(`e${i}`, "SW-1", "knitwear", `2026-11-20T10:0${i}:00Z`);
    const decisions = engine.track(event);
    const want = JSON.parse(wire.trackJson(JSON.stringify(event))).decisions;
    // Same keys in the same order, same values.
    assert.equal(JSON.stringify(decisions), JSON.stringify(want), `event ${i}`);
    const banner = decisions.find((d) => d.rule === "generic_banner");
    assert.ok(banner, "the banner's params are literals: a constant decision");
    if (previous) {
      assert.notEqual(banner, previous, "a fresh object every call");
      assert.notEqual(banner.params, previous.params);
    }
    // Whatever a caller does to a decision does not reach the next call's.
    banner.params.slot = "changed";
    banner.rule = "changed";
    previous = banner;
  }
});

test("a repeated event id is a duplicate: no decisions, nothing changes", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const event = view("same", "SW-1", "knitwear", "2026-11-20T10:00:00Z");
  assert.equal(engine.track(event).length, 2);
  const memory = engine.memoryJson();
  const again = engine.explain(event);
  assert.deepEqual(again.decisions, []);
  assert.equal(again.explanation.duplicate, true);
  assert.equal(engine.memoryJson(), memory);
});

test("forget() deletes everything kept about the visitor", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const empty = Engine.fromBundle(consentFirst.bytes).memoryJson();
  engine.track(view("e1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  const recent = engine.track(view("e2", "SW-2", "knitwear", "2026-11-20T10:05:00Z"));
  assert.ok(recent.some((d) => d.rule === "recently_viewed"), "history is used");
  assert.notEqual(engine.memoryJson(), empty);
  engine.forget();
  assert.equal(engine.memoryJson(), empty);
  assert.deepEqual(engine.memory(), Engine.fromBundle(consentFirst.bytes).memory());
  // Nothing of the forgotten history is left to act on; the greeting's cap is gone too.
  const after = engine.track(view("e3", "SW-3", "knitwear", "2026-11-20T10:10:00Z"));
  assert.deepEqual(after.map((d) => d.rule), ["greeting", "generic_banner"]);
});

test("merge() joins memories as the CLI's merge does: commutative and idempotent", () => {
  const a = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  const b = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  a.track(view("web-1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  a.track(view("web-2", "SC-2", "scarves", "2026-11-20T10:03:00Z"));
  b.track(view("tab-1", "SW-2", "knitwear", "2026-11-20T10:05:00Z"));
  const aPath = writeScratch("a.json", a.memoryJson());
  const bPath = writeScratch("b.json", b.memoryJson());
  const cli = omnirule("merge", consentFirst.path, aPath, bPath).trim();

  const ab = Engine.withMemory(consentFirst.bytes, a.memory(), { profile: mia });
  ab.merge(b.memory());
  const ba = Engine.withMemory(consentFirst.bytes, b.memoryJson(), { profile: mia });
  ba.merge(a.memoryJson());
  assert.equal(ab.memoryJson(), cli);
  assert.equal(ba.memoryJson(), cli);
  ab.merge(ab.memory());
  assert.equal(ab.memoryJson(), cli, "idempotent");
  // The merged history drives decisions: the tab's view is "recent" for the web engine.
  const next = ab.track(view("web-3", "SW-1", "knitwear", "2026-11-20T10:06:00Z"));
  const recent = next.find((d) => d.rule === "recently_viewed");
  assert.ok(recent, JSON.stringify(next));
  assert.match(recent.params.text, /SW-2|SC-2/);
  assert.throws(() => ab.merge(new Uint8Array([9, 9, 9])), /bad memory/);
  assert.throws(() => ab.merge("{}"), /bad memory/);
  assert.throws(() => ab.merge(42), /a memory is a Uint8Array/);
});

test("withMemory() continues where another engine left off", () => {
  const a = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  a.track(view("e1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  const b = Engine.withMemory(consentFirst.bytes, a.memory(), { profile: mia });
  assert.equal(b.memoryJson(), a.memoryJson());
  const next = view("e2", "SW-2", "knitwear", "2026-11-20T10:05:00Z");
  assert.equal(canonical(b.explain(next)), canonical(a.explain(next)));
  assert.throws(() => Engine.withMemory(consentFirst.bytes, "not json"), /bad memory/);
});

test("a new visitor starts from their own memory, not the previous visitor's", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  engine.track(view("e1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  const empty = Engine.fromBundle(consentFirst.bytes).memoryJson();
  engine.setProfile({ ...mia, consents: ["marketing"] }); // same visitor, fewer consents
  assert.notEqual(engine.memoryJson(), empty);
  engine.setProfile({ ...mia, id: "c2", first_name: "Ola" });
  assert.equal(engine.memoryJson(), empty);
});

test("storage policy: derived from the bundle, off where there is no localStorage", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  assert.deepEqual(engine.storageConsent, [["marketing", "personalisation"],
    ["personalisation"]]);
  assert.equal(engine.storageAllowed, false, "Node has no localStorage");
  assert.equal(engine.storageKey, "omnirule:c1");
  const custom = Engine.fromBundle(consentFirst.bytes, {
    profile: mia,
    storageKey: "shop",
    storageConsent: ["marketing"],
  });
  assert.deepEqual(custom.storageConsent, [["marketing"]]);
  assert.equal(custom.storageKey, "shop:c1");
  assert.throws(() => Engine.fromBundle(consentFirst.bytes, { storageConsent: ["cookies"] }),
    /`cookies`, which the bundle's schema does not declare/);
  assert.throws(() => Engine.fromBundle(consentFirst.bytes, { storage: "yes" }),
    /`storage` must be true or false/);
});

test("personalise() needs a page; it refuses what is not a decision list", () => {
  assert.throws(() => personalise([]), /needs a page/);
  assert.throws(() => personalise("hero"), /takes the array/);
});

test("the package: ESM named omnirule, with TypeScript declarations from the Rust API", () => {
  const pkg = JSON.parse(readFileSync(join(root, "web", "pkg", "package.json"), "utf8"));
  assert.equal(pkg.name, "omnirule");
  assert.equal(pkg.type, "module");
  assert.equal(pkg.types, "./omnirule.d.ts");
  const dts = readFileSync(join(root, "web", "pkg", "omnirule.d.ts"), "utf8");
  for (const signature of [
    /static fromBundle\(bundle: Uint8Array[^)]*, options\?: EngineOptions[^)]*\): Engine;/,
    /track\(event: OmniruleEvent\): Decision\[\];/,
    /explain\(event: OmniruleEvent\): Explained;/,
    /static withMemory\(bundle: Uint8Array[^)]*, memory: MemoryData/,
    /merge\(other: MemoryData\): void;/,
    /forget\(\): void;/,
    /memory\(\): Uint8Array;/,
    /export function personalise\(decisions: Decision\[\], options\?: PersonaliseOptions/,
    /export interface Decision \{/,
    /export interface Profile \{/,
    /export default function __wbg_init/,
  ]) {
    assert.match(dts, signature);
  }
  const wasm = readFileSync(join(root, "web", "pkg", "omnirule_bg.wasm"));
  // The runtime build carries no rule compiler.
  assert.equal(typeof omni.compile, "undefined");
  assert.ok(!wasm.includes(Buffer.from("pest")), "no parser in the runtime build");
});
