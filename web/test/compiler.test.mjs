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

test("format() is `omnirule fmt`: the canonical layout of every example, idempotent", () => {
  for (const name of exampleNames) {
    for (const [file, text] of Object.entries(sources(name))) {
      const out = full.format(text);
      assert.equal(out.ok, true, `${name}/${file}`);
      assert.equal(out.text, text, `${name}/${file} is formatted, so format() keeps it`);
    }
  }
  const messy = full.format("rule r{on page_view do banner{slot:\"a\",text:\"b\"}}");
  assert.equal(messy.ok, true);
  assert.equal(full.format(messy.text).text, messy.text);
  assert.match(messy.text, /^rule r \{\n  on page_view\n/);
  const broken = full.format("rule r {");
  assert.equal(broken.ok, false);
  assert.equal(broken.diagnostics[0].code, "E0004");
});

test("runTests() is `omnirule test`: every example's tests pass; a failure says where and why", () => {
  for (const name of exampleNames) {
    const out = full.runTests(sources(name));
    assert.equal(out.ok, true, name);
    assert.ok(out.tests.length >= 3, name);
    for (const t of out.tests) assert.equal(t.passed, true, `${name}: ${t.name} ${JSON.stringify(t.failures)}`);
  }
  const text = readFileSync(join(examples, "10-o2o-loop", "o2o.rules"), "utf8")
    .replace('code: "KNIT20",\n    sku: "SW-1"', 'code: "KNIT30",\n    sku: "SW-1"');
  const out = full.runTests(text);
  const failed = out.tests.filter((t) => !t.passed);
  assert.equal(failed.length, 1);
  const cliOut = (() => {
    const dir = mkdtempSync(join(scratch, "runtests-"));
    writeFileSync(join(dir, "rules.rules"), text);
    try {
      return execFileSync(cli, ["test", dir], { encoding: "utf8" });
    } catch (e) {
      return e.stdout;
    }
  })();
  const [failure] = failed[0].failures;
  assert.ok(cliOut.includes(`rules.rules:${failure.line}:${failure.column}: ${failure.message}`), cliOut);
  assert.equal(full.runTests("rule r {").ok, false);
});

test("compile(sources, { outline: true }) gives the schema and the rule graph, rules linked to their lines", () => {
  const text = readFileSync(join(examples, "11-campaign", "campaign.rules"), "utf8");
  const out = full.compile(text, { outline: true });
  assert.equal(out.ok, true);
  assert.deepEqual(out.schema.consents, ["marketing"]);
  assert.deepEqual(out.schema.events.map((e) => e.name), ["product_view", "beacon", "purchase"]);
  const rule = out.graph.nodes.find((n) => n.id === "rule:coat_price_test");
  const line = text.split("\n").findIndex((l) => l.startsWith("rule coat_price_test")) + 1;
  assert.equal(rule.source.line, line);
  const goals = out.graph.edges.filter((e) => e.link === "goal");
  assert.deepEqual(goals.map((e) => [e.from, e.to]),
    [["rule:coat_price_test", "event:purchase"], ["rule:coat_price_test", "event:beacon"]]);
  assert.match(goals[0].label, /goal purchase within 1w \(primary\)/);
  assert.equal(full.compile(text).graph, undefined, "only when asked");
});
