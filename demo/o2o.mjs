// The O2O demo: one customer crosses from the web shop into a store and back, through the real
// runtimes on 127.0.0.1, and a customer without consent walks the same path. See demo/README.md.
//
//   node demo/o2o.mjs [--keep-running] [--no-pause]
//
// scripts/demo.sh builds and installs what this needs, then runs it.

import fs from "node:fs";
import path from "node:path";
import { ANA, JON, PATHS, RUNTIME, journey, missing, startStack, stopAll } from "./lib.mjs";
import { ROOT } from "./shop.mjs";

const args = process.argv.slice(2);
for (const a of args) {
  if (!["--keep-running", "--no-pause"].includes(a)) {
    console.error(`usage: node demo/o2o.mjs [--keep-running] [--no-pause]  (unknown: ${a})`);
    process.exit(2);
  }
}
const keepRunning = args.includes("--keep-running");
const tty = process.stdout.isTTY;
const bold = (s) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s) => (tty ? `\x1b[2m${s}\x1b[0m` : s);

// Everything the demo started is stopped once, whichever comes first: the end, a failure, or a
// signal (Ctrl-C, SIGTERM); the process exits only after that.
let stopped = null;
let interrupted = null;
const stopOnce = () => (stopped ??= stopAll());
async function shutdown(code) {
  await stopOnce();
  process.exit(code);
}
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(signal, () => {
    if (interrupted !== null) return; // a second Ctrl-C: the first is already stopping everything
    interrupted = code;
    console.log(`\n${signal}: stopping everything the demo started`);
    shutdown(code);
  });
}
process.on("uncaughtException", (e) => {
  console.error(e);
  shutdown(1);
});
process.on("unhandledRejection", (e) => {
  console.error(e);
  shutdown(1);
});

function describe(d) {
  if (d.action === null) return `${d.rule}: control arm (nothing shown)`;
  const p = d.params;
  if (d.action === "banner") return `${d.rule} -> banner ${p.slot}: "${p.text}"`;
  if (d.action === "offer") return `${d.rule} -> offer ${p.code} (${p.percent}% off ${p.sku}): "${p.message}"`;
  return `${d.rule} -> ${d.action} ${JSON.stringify(p)}`;
}

let prefix = "";
const story = {
  pause: args.includes("--no-pause") ? 0 : 700,
  customer(profile) {
    const consents = profile.consents.length ? profile.consents.join(", ") : "none";
    if (profile === JON) {
      console.log(`\n${bold(`5. ${profile.id === "jon" ? "Jon" : profile.id}, who gave no consent, walks the same path`)} (consents: ${consents})`);
      prefix = "5.";
    } else {
      console.log(`\n${bold(`== ${profile.first_name}, customer "${profile.id}"`)} (consents: ${consents})`);
    }
  },
  step(n, title) {
    console.log(`\n${bold(`${prefix}${n}. ${title}`)}`);
  },
  line(text) {
    console.log(`   ${text}`);
  },
  decided(runtime, decisions, note) {
    const label = `${runtime}:`.padEnd(29);
    if (decisions.length === 0) console.log(`   ${label}nothing personal${note ? dim(`  (${note})`) : ""}`);
    decisions.forEach((d, i) => console.log(`   ${i === 0 ? label : " ".repeat(29)}${describe(d)}`));
    if (note && decisions.length > 0) console.log(`   ${" ".repeat(29)}${dim(note)}`);
  },
};

const problems = missing();
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error("run scripts/demo.sh, which builds and installs all of it");
  process.exit(1);
}

let failed = false;
try {
  console.log(bold("Omnirule: the O2O loop, end to end"));
  console.log(`rules: examples/10-o2o-loop; every runtime below runs the same engine on the same bundle\n`);
  const stack = await startStack({
    log: (what, url) =>
      console.log(
        `   ${what.padEnd(9)}${url}  ${dim(
          {
            hub: "the fleet's hub: nats-server with JetStream (one customer view for all sites)",
            online: "online node: omnirule-store --site web, the web's member of the fleet",
            "paris-01": "store host: omnirule-store, the engine in wasmtime, memory in SQLite",
            shop: "shop origin and backend (Node): pages, sign-in, a sync/read token of the online node",
            edge: "edge worker in workerd, in front of the shop: pages arrive personalised",
          }[what] ?? "store host (another store of the fleet)",
        )}`,
      ),
  });
  console.log(`   ${"browser".padEnd(8)}headless Chromium (${PATHS.chromium}), the browser package in the page`);
  console.log(dim(`   bundle sha-256 ${stack.bundleHash.slice(0, 16)}…`));

  const result = await journey(stack, story, { screenshots: true });
  const shot = path.join(PATHS.screenshots, "o2o-shop.png");
  console.log(`\n   screenshots: ${path.relative(ROOT, shot)}, ${path.relative(ROOT, path.join(PATHS.screenshots, "o2o-thank-you.png"))}`);

  // What is kept about Jon, everywhere: no event, no firing.
  const { kept } = result.jon;
  const storeMem = kept.store?.memory;
  console.log(`\n${bold("5.5. What is kept about Jon")}`);
  console.log(`   ${RUNTIME.browser}: ${kept.browser === null ? "nothing in localStorage" : `localStorage: ${kept.browser}`}`);
  console.log(`   ${RUNTIME.edge}: memory cookie with ${kept.edge.events.length} events, ${kept.edge.firings.length} firings` +
    dim(` (and ${kept.edge.seen.length} de-duplication ids)`));
  console.log(`   ${RUNTIME.store}: ${kept.store === null ? "no record" : `${storeMem.events.length} events, ${storeMem.firings.length} firings` + dim(` (the profile it was sent, ${storeMem.seen.length} de-duplication ids)`)}`);

  const byRuntime = {};
  for (const r of result.records) byRuntime[r.runtime] = (byRuntime[r.runtime] ?? 0) + 1;
  const counts = Object.entries(byRuntime).map(([k, n]) => `${RUNTIME[k]} ${n}`).join(", ");
  console.log(`\n${bold("Check: the same inputs through the native engine (omnirule run)")}`);
  if (result.mismatches.length === 0) {
    console.log(`   every runtime agreed with the native engine on ${result.records.length} events (${counts})`);
  } else {
    failed = true;
    for (const m of result.mismatches) {
      console.log(`   MISMATCH ${RUNTIME[m.runtime]} ${m.customer} ${m.event.id}: ${JSON.stringify(m.decisions)} vs native ${JSON.stringify(m.native)}`);
    }
    console.log(`   ${result.mismatches.length} of ${result.records.length} events disagreed with the native engine`);
  }
  const errors = [...result.ana.pageErrors, ...result.jon.pageErrors];
  if (errors.length > 0) {
    failed = true;
    console.log(`   errors in the page: ${errors.join("; ")}`);
  }

  if (keepRunning && !failed) {
    await stack.browser.close();
    console.log(`\n${bold("Still running (Ctrl-C stops everything):")}`);
    console.log(`   the shop, through the edge:  ${stack.edge.url}/   (open this; a new visitor is signed in as "Mia", without consent)`);
    console.log(`   the shop origin:             ${stack.shop.url}/   (not personalised by the edge)`);
    console.log(`   the paris-01 store host:     ${stack.store.url}/v1/customers/ana   (send the admin token; also /livez, /readyz, /metrics)`);
    console.log(`   the online node:             ${stack.online.url}/readyz   (the fleet: ${stack.hub.url})`);
    console.log(`   store admin token:           ${stack.adminToken}`);
    await new Promise(() => {}); // until a signal
  }
} catch (e) {
  failed = true;
  if (interrupted === null) console.error(`\nthe demo failed: ${e.stack ?? e}`);
} finally {
  await stopOnce();
}
process.exit(interrupted ?? (failed ? 1 : 0));
