// The optional authoring build (web/pkg-full, `scripts/build-web.sh --with-compiler`): rule
// sources compiled in JavaScript give the CLI's bundle byte for byte, and the CLI's diagnostics.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { buildExample, cli, examples, loadPackage, root, scratch } from "./helpers.mjs";

const full = await loadPackage(join(root, "web", "pkg-full"));

const exampleNames = readdirSync(examples, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function sources(name) {
  const dir = join(examples, name);
  return Object.fromEntries(readdirSync(dir)
    .filter((f) => f.endsWith(".rules"))
    .map((f) => [f, readFileSync(join(dir, f), "utf8")]));
}

test("compile() in JavaScript gives the CLI's bundle, byte for byte, for every example", () => {
  for (const name of exampleNames) {
    const result = full.compile(sources(name));
    assert.equal(result.ok, true, `${name}: ${result.report}`);
    assert.ok(result.bundle instanceof Uint8Array);
    assert.deepEqual(Buffer.from(result.bundle), buildExample(name).bytes, name);
  }
});

test("the compiled bundle runs in the same package", () => {
  const text = readFileSync(join(examples, "07-consent-first", "consent.rules"), "utf8");
  const { bundle } = full.compile(text);
  const engine = full.Engine.fromBundle(bundle, { profile: { id: "c1", consents: [] } });
  const decisions = engine.track({ type: "page_view", id: "e1", time: 0, sku: "SW-1",
    category: "knitwear", price: 79 });
  assert.deepEqual(decisions.map((d) => d.params.text), ["Winter knitwear is here"]);
});

test("a rule set with errors gives the CLI's diagnostics and no bundle", () => {
  const text = readFileSync(join(examples, "07-consent-first", "consent.rules"), "utf8")
    .replace("v.sku != event.sku", "v.skuu != event.sku");
  const dir = mkdtempSync(join(scratch, "broken-"));
  writeFileSync(join(dir, "consent.rules"), text);
  let expected;
  try {
    execFileSync(cli, ["check", "consent.rules", "--format", "json"], { cwd: dir,
      encoding: "utf8", stdio: "pipe" });
    assert.fail("the CLI should refuse the rule set");
  } catch (e) {
    assert.equal(e.status, 1);
    expected = JSON.parse(e.stdout);
  }
  const result = full.compile({ "consent.rules": text });
  assert.equal(result.ok, false);
  assert.equal(result.bundle, undefined);
  assert.deepEqual(result.diagnostics, expected);
  assert.equal(result.diagnostics[0].code, "E0102");
  assert.match(result.report, /error\[E0102\]: `page_view` has no field `skuu`/);
  assert.match(result.report, /help: did you mean `sku`\?/);
  assert.throws(() => full.compile(42), /compile takes a string or an object/);
});
