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
  // The package's events happen on the web (its default channel, no host): so do the CLI's.
  const logPath = join(scratch, `log-${Math.random().toString(36).slice(2)}.jsonl`);
  const lines = omnirule("run", bundle.path, "--profile", profilePath, "--events", eventsPath,
    "--explain", "--write-memory", memoryPath, "--log", logPath, "--channel", "web")
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
  // A minute before the first event: within the de-duplication window whatever today's date
  // is (a fixed date falls out of it, and out of memory, a week later).
  const event = view("given-id", "SW-2", "knitwear", new Date(before - 60_000).toISOString());
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

test("forget() deletes everything kept about the visitor, and a stale copy cannot bring it back", () => {
  const engine = Engine.fromBundle(consentFirst.bytes, { profile: mia });
  engine.track(view("e1", "SW-1", "knitwear", "2026-11-20T10:00:00Z"));
  const recent = engine.track(view("e2", "SW-2", "knitwear", "2026-11-20T10:05:00Z"));
  assert.ok(recent.some((d) => d.rule === "recently_viewed"), "history is used");
  const stale = engine.memoryJson();
  const before = Date.now();
  engine.forget();
  const tombstone = JSON.parse(engine.memoryJson());
  assert.deepEqual([tombstone.events, tombstone.firings, tombstone.seen], [[], [], []]);
  assert.equal(tombstone.version, 2);
  assert.ok(Date.parse(tombstone.erased) >= before, tombstone.erased);
  // A copy taken before (another tab, the edge's cookie) merged later adds nothing.
  engine.merge(stale);
  assert.deepEqual(JSON.parse(engine.memoryJson()), tombstone);
  // Nothing of the forgotten history is left to act on; the greeting's cap is gone too.
  const after = engine.track(view("e3", "SW-3", "knitwear", new Date(Date.now() + 1000).toISOString()));
  assert.deepEqual(after.map((d) => d.rule), ["greeting", "generic_banner"]);
  // Events after the deletion are remembered as usual.
  assert.deepEqual(JSON.parse(engine.memoryJson()).events.map((e) => e.id), ["e3"]);
  // reset() only drops what this engine holds: no tombstone.
  engine.reset();
  assert.equal(JSON.parse(engine.memoryJson()).erased, undefined);
});

test("fromSignedBundle loads only bundles signed by a trusted key, checked with WebCrypto", async () => {
  const keyPath = join(scratch, "signing.key");
  const publicKey = omnirule("keygen", "-o", keyPath).trim();
  const otherKey = omnirule("keygen", "-o", join(scratch, "other.key")).trim();
  const signedPath = join(scratch, "signed.bundle");
  omnirule("build", join(examples, "07-consent-first"), "-o", signedPath, "--sign", keyPath);
  const signed = readFileSync(signedPath);

  const engine = await Engine.fromSignedBundle(signed, { trustedKeys: [publicKey], profile: mia });
  assert.ok(engine.track(view("s1", "SW-1", "knitwear", "2026-11-20T10:00:00Z")).length > 0);
  // Several trusted keys (a rotation): the one that signed is found by its id.
  await Engine.fromSignedBundle(signed, { trustedKeys: [otherKey, publicKey] });

  // Unsigned, or signed by a key not trusted: refused at once, saying why.
  assert.throws(() => Engine.fromSignedBundle(consentFirst.bytes, { trustedKeys: [publicKey] }),
    /not signed/);
  assert.throws(() => Engine.fromSignedBundle(signed, { trustedKeys: [otherKey] }),
    /does not trust/);
  assert.throws(() => Engine.fromSignedBundle(signed, {}), /needs the option `trustedKeys`/);
  assert.throws(() => Engine.fromSignedBundle(signed, { trustedKeys: ["ed25519:nope"] }),
    /trustedKeys/);
  // A flipped bit in the signature: WebCrypto says no, the promise rejects.
  const forged = Buffer.from(signed);
  forged[forged.length - 1] ^= 1;
  await assert.rejects(Engine.fromSignedBundle(forged, { trustedKeys: [publicKey] }),
    /does not match its content/);
  // fromBundle cannot wait for a signature check: it says which call to use.
  assert.throws(() => Engine.fromBundle(signed, { trustedKeys: [publicKey] }), /fromSignedBundle/);
  // Without trusted keys a signed bundle loads as any other.
  Engine.fromBundle(signed).free();
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
    /reset\(\): void;/,
    /static fromSignedBundle\(bundle: Uint8Array \| number\[\], options: EngineOptions\): Promise<Engine>;/,
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

// Profiles and events cross as records (engine/src/input/record.rs) when they can, and as JSON
// text otherwise. Records are only a faster way to the same place: every input gives the same
// decisions and the same errors as when it is forced through JSON text (an object with
// `toJSON` is never written as a record).
const recordsRules = `schema {
  timezone "UTC"
  consent marketing
  profile { tier: string?, score: number?, vip: bool?, labels: set<string>?, since: time?, notice: duration? }
  event visit { page: string, price: number?, dwell: duration?, at: time?, tags: list<string>?, flag: bool? }
  action show { text: string, labels: set<string>?, tags: list<string>? }
}
rule everything "Says what it was given" {
  on visit
  do show { text: "{profile.id}|{profile.tier}|{profile.score}|{profile.vip}|{profile.since}|{profile.notice}|{event.id}|{event.page}|{event.price}|{event.dwell}|{event.at}|{event.flag}|{event.time}", labels: profile.labels, tags: event.tags }
}
rule marketing_only "Consent decides" {
  on visit
  consent marketing
  when event.price > 10
  do show { text: "offer" }
}
`;

function records() {
  const path = join(scratch, "records.bundle");
  omnirule("build", writeScratch("records.rules", recordsRules), "-o", path);
  return readFileSync(path);
}

// A small seeded generator: the same cases on every run.
function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Well-typed values of each kind, edge cases included (non-ASCII, long strings that need more
// room than a record starts with, -0, numbers past 2^53, the ends of the time range).
const STRINGS = ["", "gold", "x", "café", "😀 ok", "2026-01-01T00:00:00Z", "a".repeat(5000),
  "é".repeat(3000)];
const NUMBERS = [0, -0, 1.5, 11, -7, 1e21, 2 ** 53 + 2, 1795168800000, 0.1 + 0.2,
  Number.MIN_VALUE];
const TIMES = [0, -0, 1795168800000, 8.64e15, -8.64e15, "2026-01-01T00:00:00Z",
  "2026-01-01T00:00:00.5+01:00"];
const DURATIONS = [0, -0, 1000, -1000, 2 ** 53];
// Values that are wrong somewhere, or that only JSON text carries.
const ODD = () => ["\ud800", "yesterday", 8.64e15 + 2, 2 ** 53 + 2, 1e21, NaN, Infinity,
  null, undefined, true, [], ["b", "a", "b"], ["a", 1], [["a"]], [undefined], {},
  new Date(0), 1n, () => 1];

function pick(next, xs) {
  return xs[Math.floor(next() * xs.length)];
}

// Mostly well-typed values for a member, sometimes anything.
function valueFor(next, kind) {
  if (next() < 0.06) return pick(next, [...STRINGS, ...NUMBERS, ...ODD()]);
  switch (kind) {
    case "string": return pick(next, STRINGS);
    case "number": return pick(next, NUMBERS);
    case "bool": return next() < 0.5;
    case "strings": return pick(next, [[], ["b", "a", "b"], ["é", "x"], ["a".repeat(5000)]]);
    case "time": return pick(next, TIMES);
    case "duration": return pick(next, DURATIONS);
    default: throw new Error(kind);
  }
}

function objectOf(next, members) {
  const out = {};
  for (const [key, kind] of members) {
    if (next() < 0.15) continue;
    out[key] = valueFor(next, kind);
  }
  return out;
}

const PROFILE = [["id", "string"], ["consents", "strings"], ["tier", "string"],
  ["score", "number"], ["vip", "bool"], ["labels", "strings"], ["since", "time"],
  ["notice", "duration"]];
const EVENT = [["page", "string"], ["price", "number"], ["dwell", "duration"], ["at", "time"],
  ["tags", "strings"], ["flag", "bool"]];

function outcome(f) {
  try {
    return { value: f() };
  } catch (e) {
    return { error: e.message };
  }
}

const viaJson = (x) => ({ toJSON: () => x });
const show = (x) =>
  String(JSON.stringify(x, (_, v) => (typeof v === "bigint" ? `${v}n` : v))).slice(0, 300);

test("records and JSON text give the same decisions and the same errors", () => {
  const bytes = records();
  const byRecord = Engine.fromBundle(bytes, { storage: false });
  const byJson = Engine.fromBundle(bytes, { storage: false });
  const next = random(20261123);
  let decided = 0;
  for (let i = 0; i < 600; i++) {
    const profile = objectOf(next, PROFILE);
    if (next() < 0.8) profile.id = `c${i % 7}`;
    if (next() < 0.8) profile.consents = ["marketing"];
    const event = { type: next() < 0.9 ? "visit" : pick(next, ["nope", 7, null]),
      ...objectOf(next, EVENT), id: `e${i}`, time: valueFor(next, "time") };
    if (next() < 0.8) event.page = "p";
    // A missing time would be stamped with the clock on one side only (see the stamp test).
    if (event.time === undefined || event.time === null) event.time = 0;
    const a = outcome(() => byRecord.setProfile(profile));
    const b = outcome(() => byJson.setProfile(viaJson(profile)));
    assert.deepEqual(a, b, `setProfile(${show(profile)})`);
    if (a.error) continue;
    const x = outcome(() => byRecord.track(event));
    const y = outcome(() => byJson.track(viaJson(event)));
    assert.deepEqual(x, y, `track(${show(event)})`);
    if (x.value?.length) decided++;
  }
  assert.equal(byRecord.memoryJson(), byJson.memoryJson());
  assert.ok(decided > 150, `only ${decided} events decided anything`);
});

test("only the members the schema declares are read", () => {
  const engine = Engine.fromBundle(records(), { storage: false });
  const cycle = {};
  cycle.self = cycle;
  engine.setProfile({ id: "c1", consents: ["marketing"], crm: { cycle }, balance: 10n });
  const decisions = engine.track({ type: "visit", page: "p", price: 12, time: 0, id: "e1",
    raw: 2n ** 70n });
  assert.deepEqual(decisions.map((d) => d.rule), ["everything", "marketing_only"]);
  // JSON text of the same objects has no room for them.
  assert.throws(() => engine.setProfile(viaJson({ id: "c1", balance: 10n })), /BigInt/);
  // Declared members are checked whichever way they cross.
  assert.throws(() => engine.track({ type: "visit", page: "p", price: 1n, time: 0, id: "e2" }),
    /BigInt/);
  assert.throws(() => engine.track({ type: "visit", page: "p", price: "12", time: 0, id: "e3" }),
    /`price` should be a number, got the string "12"/);
  // Anything but a plain object means what its JSON text says: a class's getters are not
  // members, `toJSON` decides.
  class Visitor {
    constructor() {
      this.id = "c2";
    }
    get tier() {
      return "gold";
    }
  }
  engine.setProfile(new Visitor());
  const text = (e) => engine.track(e)[0].params.text.split("|").slice(0, 2).join("|");
  assert.equal(text({ type: "visit", page: "p", time: 0, id: "e4" }), "c2|");
  engine.setProfile({ id: "c3", tier: "gold", toJSON: () => ({ id: "c4", tier: "silver" }) });
  assert.equal(text({ type: "visit", page: "p", time: 0, id: "e5" }), "c4|silver");
  engine.setProfile({ id: "c5", tier: "gold" });
  assert.equal(text({ type: "visit", page: "p", time: 0, id: "e6" }), "c5|gold");
  // A getter that throws is reported, whichever way the value would have crossed.
  const boom = { id: "c6", get tier() { throw new Error("boom"); } };
  assert.throws(() => engine.setProfile(boom), /omnirule: the profile is not a JSON-like value: boom/);
  assert.equal(text({ type: "visit", page: "p", time: 0, id: "e7" }), "c5|gold",
    "a refused profile leaves the visitor as it was");
});

test("onExposure gets every decision as the exposure line the CLI logs for the same inputs", () => {
  const name = "06-win-back";
  const bundle = buildExample(name);
  const profilePath = join(examples, name, "profile.json");
  const eventsPath = join(examples, name, "events.jsonl");
  const log = join(scratch, "win-back-exposures.jsonl");
  omnirule("run", bundle.path, "--profile", profilePath, "--events", eventsPath,
    "--log", log, "--channel", "web", "--host", "edge");
  const expected = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(expected.length > 0);
  const seen = [];
  const engine = Engine.fromBundle(bundle.bytes, {
    profile: JSON.parse(readFileSync(profilePath, "utf8")),
    storage: false,
    onExposure: (e) => seen.push(e),
    host: "edge",
  });
  let decisions = 0;
  for (const event of readEvents(eventsPath)) decisions += engine.track(event).length;
  assert.equal(seen.length, decisions, "one exposure per decision");
  assert.deepEqual(seen, expected);
  // Member for member in the line's order: `track` builds these objects in JavaScript from
  // its decision objects, not by parsing the line.
  const lines = readFileSync(log, "utf8").trim().split("\n");
  assert.deepEqual(seen.map((e) => JSON.stringify(e)), lines);
  engine.free();
  // `explain` and `trackJson` tell the same exposures (from the lines themselves).
  for (const call of ["explain", "trackJson"]) {
    const told = [];
    const other = Engine.fromBundle(bundle.bytes, {
      profile: JSON.parse(readFileSync(profilePath, "utf8")),
      storage: false,
      onExposure: (e) => told.push(e),
      host: "edge",
    });
    for (const event of readEvents(eventsPath)) {
      if (call === "explain") other.explain(event);
      else other.trackJson(JSON.stringify(event));
    }
    assert.deepEqual(told.map((e) => JSON.stringify(e)), lines, call);
    other.free();
  }
});

test("onConversion gets each goal met as the conversion line the CLI logs, linked to the exposure's place", () => {
  const name = "11-campaign";
  const bundle = buildExample(name);
  const profilePath = join(examples, name, "profile.json");
  const eventsPath = join(examples, name, "events.jsonl");
  const log = join(scratch, "campaign-log.jsonl");
  omnirule("run", bundle.path, "--profile", profilePath, "--events", eventsPath,
    "--log", log, "--channel", "web", "--host", "edge");
  const expected = readFileSync(log, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(expected.map((l) => l.kind), ["exposure", "exposure", "conversion", "conversion"]);
  const seen = [];
  const engine = Engine.fromBundle(bundle.bytes, {
    profile: JSON.parse(readFileSync(profilePath, "utf8")),
    storage: false,
    onExposure: (e) => seen.push(e),
    onConversion: (c) => seen.push(c),
    host: "edge",
  });
  for (const event of readEvents(eventsPath)) engine.track(event);
  assert.deepEqual(seen, expected);
  engine.free();
  // The place travels with the exposure in memory: exposed on the web, then the memory is
  // handed to a store's engine, where the purchase converts and says where it was exposed.
  const events = readEvents(eventsPath);
  const web = Engine.fromBundle(bundle.bytes, {
    profile: JSON.parse(readFileSync(profilePath, "utf8")),
    storage: false,
    host: "edge",
  });
  web.track(events[0]);
  const lines = [];
  const store = Engine.withMemory(bundle.bytes, web.memoryJson(), {
    profile: JSON.parse(readFileSync(profilePath, "utf8")),
    storage: false,
    channel: "store",
    host: "paris-01",
    onConversion: (c) => lines.push(c),
  });
  const out = JSON.parse(store.trackJson(JSON.stringify(events[3])));
  assert.equal(out.conversions.length, 1);
  assert.equal(out.conversions[0].exposure_channel, "web");
  assert.equal(lines.length, 1);
  assert.equal(lines[0].exposure_host, "edge");
  assert.equal(lines[0].channel, "store");
  assert.equal(lines[0].host, "paris-01");
  web.free();
  store.free();
});

test("onExposure is not called for a visitor about whom nothing is kept, nor breaks tracking when it throws", () => {
  // 07-consent-first's generic banner needs no consent: without any, the visitor still gets
  // decisions, but nothing is kept about them, so nothing is logged either.
  const consentFirstEvents = readEvents(join(examples, "07-consent-first", "events.jsonl"));
  const calls = [];
  const stranger = Engine.fromBundle(consentFirst.bytes, {
    profile: { ...mia, consents: [] },
    storage: false,
    onExposure: (e) => calls.push(e),
  });
  let decided = 0;
  for (const event of consentFirstEvents) decided += stranger.track(event).length;
  assert.ok(decided > 0, "the generic banner is decided for everyone");
  assert.deepEqual(calls, []);
  stranger.free();
  const bundle = buildExample("06-win-back");
  const events = readEvents(join(examples, "06-win-back", "events.jsonl"));
  const throwing = Engine.fromBundle(bundle.bytes, {
    profile: JSON.parse(readFileSync(join(examples, "06-win-back", "profile.json"), "utf8")),
    storage: false,
    onExposure: () => {
      throw new Error("collector down");
    },
  });
  for (const event of events) throwing.track(event);
  throwing.free();
});

test("forceVariants puts a tester in each arm, checks the names, and logs no exposure", () => {
  const name = "06-win-back";
  const bundle = buildExample(name);
  const profile = JSON.parse(readFileSync(join(examples, name, "profile.json"), "utf8"));
  const events = readEvents(join(examples, name, "events.jsonl"));
  const armsSeen = (options) => {
    const engine = Engine.fromBundle(bundle.bytes, { profile, storage: false, ...options });
    const arms = events.flatMap((e) => engine.track(e))
      .filter((d) => d.experiment === "win_back_size")
      .map((d) => d.variant);
    engine.free();
    return arms;
  };
  const natural = armsSeen({});
  assert.ok(natural.length > 0, "the example reaches the split");
  for (const variant of ["control", "ten", "twenty"]) {
    const logged = [];
    const arms = armsSeen({ forceVariants: { win_back_size: variant }, onExposure: (e) => logged.push(e) });
    assert.deepEqual(arms, natural.map(() => variant), variant);
    assert.deepEqual(logged, [], "a tester is not an exposure");
  }
  assert.throws(() => Engine.fromBundle(bundle.bytes, { forceVariants: { win_back_sise: "ten" } }),
    /no split named `win_back_sise`/);
  assert.throws(() => Engine.fromBundle(bundle.bytes, { forceVariants: { win_back_size: "thirty" } }),
    /split `win_back_size` has no arm `thirty` \(its arms: control, ten, twenty\)/);
});

test("slotTexts is the choice personalise makes: first text per slot, control arms and untargeted decisions skipped", async () => {
  const { slotTexts } = await loadPackage();
  const d = (rule, action, params) => ({ rule, action, params, group: null, experiment: null, variant: null });
  assert.deepEqual(slotTexts([
    d("control_arm", null, { slot: "hero", text: "never" }),
    d("no_slot", "banner", { text: "nowhere" }),
    d("first", "banner", { slot: "hero", text: "Hello" }),
    d("second", "banner", { slot: "hero", text: "Later" }),
    d("offer", "offer", { slot: "side", message: "20% off" }),
    d("hook_only", "banner", { slot: "foot" }),
  ]), [
    { slot: "hero", text: "Hello", rule: "first" },
    { slot: "side", text: "20% off", rule: "offer" },
  ]);
  assert.throws(() => slotTexts("nope"), /slotTexts\(decisions\) takes the array/);
});
