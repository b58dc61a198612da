// The workerd runner: starts real workerd on 127.0.0.1 with a worker that runs cases with the
// browser package's wasm, and posts every case to it.
//   node tests/vectors/runners/workerd.mjs DIR  →  DIR/out/workerd.jsonl
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, pkgModules } from "../../../edge-host/workerd/serve.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../../..");
const WORKERD = path.join(ROOT, "edge-host", "workerd", "node_modules", ".bin", "workerd");
const dir = process.argv[2];
if (!dir) {
  console.error("usage: node workerd.mjs DIR");
  process.exit(2);
}
const port = await freePort();
const work = fs.mkdtempSync(path.join(os.tmpdir(), "omnirule-vectors-workerd-"));
const modules = pkgModules(work);
fs.copyFileSync(path.join(HERE, "workerd-worker.js"), path.join(work, "worker.js"));
fs.copyFileSync(path.join(HERE, "run-case.mjs"), path.join(work, "run-case.mjs"));
fs.writeFileSync(path.join(work, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "vectors", worker = .w) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "vectors") ],
);
const w :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "run-case.mjs", esModule = embed "run-case.mjs"),
    ${modules.join(",\n    ")},
  ],
  compatibilityDate = "2025-01-01",
);
`);
const child = spawn(WORKERD, ["serve", path.join(work, "config.capnp")], { cwd: work, stdio: ["ignore", "inherit", "inherit"] });
const url = `http://127.0.0.1:${port}/`;
try {
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`workerd exited with ${child.exitCode}`);
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      if (i > 2000) throw new Error("workerd did not start");
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const cases = fs.readFileSync(path.join(dir, "cases.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
  const b64 = new Map();
  const batches = [];
  for (let i = 0; i < cases.length; i += 50) batches.push(cases.slice(i, i + 50));
  let text = "";
  for (const batch of batches) {
    const body = batch.map((c) => {
      if (!b64.has(c.bundle)) b64.set(c.bundle, fs.readFileSync(path.join(dir, c.bundle)).toString("base64"));
      return { bundle: b64.get(c.bundle), c };
    });
    const res = await fetch(url, { method: "POST", body: JSON.stringify(body) });
    if (!res.ok) throw new Error(`workerd answered ${res.status}: ${await res.text()}`);
    text += await res.text();
  }
  fs.mkdirSync(path.join(dir, "out"), { recursive: true });
  fs.writeFileSync(path.join(dir, "out", "workerd.jsonl"), text);
  console.log(`workerd: ran ${text.trim().split("\n").length} vectors`);
} finally {
  child.kill("SIGKILL");
  fs.rmSync(work, { recursive: true, force: true });
}
