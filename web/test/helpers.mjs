// Shared by the Node tests: paths, the native CLI, the built package, canonical JSON.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const examples = join(root, "examples");
const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(root, process.env.CARGO_TARGET_DIR)
  : join(root, "target");
/** The native `omnirule` command the browser package is compared with. */
export const cli = process.env.OMNIRULE_CLI
  ? resolve(root, process.env.OMNIRULE_CLI)
  : join(targetDir, "debug", "omnirule");

export function omnirule(...args) {
  return execFileSync(cli, args, { encoding: "utf8", maxBuffer: 64 << 20 });
}

export const scratch = mkdtempSync(join(tmpdir(), "omnirule-web-test-"));

/** Builds `examples/NAME` with the CLI; returns the bundle's path and bytes. */
export function buildExample(name) {
  const path = join(scratch, `${name}.bundle`);
  omnirule("build", join(examples, name), "-o", path);
  return { path, bytes: readFileSync(path) };
}

export function writeScratch(name, text) {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

/** Loads a package built by scripts/build-web.sh (web/pkg by default). */
export async function loadPackage(dir = process.env.OMNIRULE_PKG ?? join(root, "web", "pkg")) {
  const mod = await import(pathToFileURL(join(dir, "omnirule.js")).href);
  await mod.default({ module_or_path: readFileSync(join(dir, "omnirule_bg.wasm")) });
  return mod;
}

/** The canonical JSON of the wire protocol: keys sorted, no whitespace, numbers and strings as
 * JSON.stringify writes them. */
export function canonical(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  const keys = Object.keys(value)
    .filter((k) => value[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
}

/** An example's events as the CLI reads them (a line without `id` is `line-N`). */
export function readEvents(path) {
  const events = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.trim() === "") return;
      const event = JSON.parse(line);
      if (!("id" in event)) event.id = `line-${i + 1}`;
      events.push(event);
    });
  return events;
}
