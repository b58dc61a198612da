// A worker that runs conformance cases inside workerd: POST {"bundle": base64, "case": {...}}.
import { initSync, Engine } from "./omnirule.js";
import wasmModule from "./omnirule_bg.wasm";
import { runCase } from "./run-case.mjs";

initSync({ module: wasmModule });

function bytes(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export default {
  async fetch(request) {
    if (request.method !== "POST") return new Response("ok");
    const cases = await request.json();
    const lines = cases.map(({ bundle, c }) => JSON.stringify(runCase(Engine, bytes(bundle), c)));
    return new Response(lines.join("\n") + "\n", { headers: { "content-type": "text/plain" } });
  },
};
