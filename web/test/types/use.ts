// Every public shape of the npm package, used as a TypeScript project would: checked by
// `tsc --noEmit` against the package's own `omnirule.d.ts` (web/test/package.test.mjs runs
// it on the packed tarball, installed into a fresh project).
import {
  Engine,
  personalise,
  type Conversion,
  type ConversionLine,
  type Decision,
  type EngineOptions,
  type Explained,
  type Exposure,
  type MemoryData,
  type OmniruleEvent,
  type Profile,
  BundleSource,
  type BundleSourceOptions,
} from "omnirule";
import init, { initSync } from "omnirule/init";

declare const bytes: Uint8Array;

const exposures: Exposure[] = [];
const conversions: ConversionLine[] = [];
const options: EngineOptions = {
  profile: { id: "c1", consents: ["marketing"], tier: "gold" },
  storage: false,
  onExposure: (e: Exposure) => exposures.push(e),
  onConversion: (c: ConversionLine) => conversions.push(c),
  channel: "web",
  host: "edge",
};
const engine: Engine = Engine.fromBundle(bytes, options);
const profile: Profile = { id: "c1", consents: [] };
engine.setProfile(profile);
const event: OmniruleEvent = { type: "page_view", sku: "SW-1", category: "knitwear", price: 79 };
const decisions: Decision[] = engine.track(event);
const first: string | null = decisions[0]?.action ?? null;
const explained: Explained = engine.explain({ ...event, id: "e2", time: "2026-11-20T10:00:00Z" });
const met: Conversion[] = explained.conversions ?? [];
const goal: string | undefined = met[0]?.goal;
// A conversion line is a conversion with who, when and where: both kinds of member.
const where: [string | null, string] | undefined = conversions[0] && [conversions[0].exposure_host, conversions[0].channel];
const wire: string = engine.trackJson(JSON.stringify({ ...event, id: "e3", time: 0 }), true);
engine.setPlace("store", "paris-01");
engine.setPlace(null, null);
const kept: MemoryData = engine.memory();
const other = Engine.withMemory(bytes, engine.memoryJson(), { storage: false });
other.merge(kept);
const shown: number = personalise(decisions, { root: document, render: (_slot, d) => d === undefined });
const signed: Promise<Engine> = Engine.fromSignedBundle(bytes, { trustedKeys: ["ed25519:00"] });
const hash: string = engine.bundleHash;
engine.forget();
engine.reset();
engine.free();
const sourceOptions: BundleSourceOptions = { refreshMs: 60000, onUpdate: (b: Uint8Array) => b.length, cacheName: null };
const source = new BundleSource("https://rules.example/shop.bundle", sourceOptions).start();
const loaded: Promise<Uint8Array> = source.load();
const refreshed: Promise<boolean> = source.refresh();
source.stop();
const tester = Engine.fromBundle(bytes, { forceVariants: { coat_discount: "ten" } });
void [first, goal, wire, shown, signed, hash, init, initSync, loaded, refreshed, tester];

// The bare module has the engine but not the entries' additions.
import * as bare from "omnirule/init";
// @ts-expect-error BundleSource is exported by the entries only
void bare.BundleSource;
void bare.Engine;
