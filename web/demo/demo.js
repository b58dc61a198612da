// Maison Laine: a fictional shop personalised by the `omnirule` package in the page.
//
// Two modes, chosen by /config.json:
// - "local" (web/demo/serve.mjs, the default): the rules are examples/07-consent-first
//   (shop.bundle): a hero banner for knitwear that everyone sees, and, only with consent, a
//   greeting by name, a "still thinking about" line built from the visitor's history, and a
//   door-screen welcome in the store. The visitor and their consents live in sessionStorage.
// - "o2o" (demo/shop.mjs, behind the edge worker; see demo/README.md): the rules are
//   examples/10-o2o-loop; product pages are real URLs (/products/SKU) that arrive personalised
//   by the edge; the visitor comes from the shop's signed session (/api/session); the page hands
//   its memory to the store host and takes the store's memory back through the shop's backend.
import init, { Engine, personalise } from "omnirule";

const config = await (await fetch("/config.json")).json();
const o2o = config.mode === "o2o";
const products = await (await fetch("/products.json")).json();

const $ = (id) => document.getElementById(id);

// The consent record and the signed-in visitor stand in for a consent manager and a login:
// they live in sessionStorage, so localStorage holds nothing but what the engine keeps.
const session = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem("maison-laine") ?? "null");
    } catch {
      return null;
    }
  },
  save(state) {
    sessionStorage.setItem("maison-laine", JSON.stringify(state));
  },
};

// In the O2O mode the shop's backend signs the profile into a cookie (the edge reads it too).
const api = async (method, path, body) => {
  const r = await fetch(path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const out = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(out)}`);
  return out;
};
const signedIn = o2o ? await api("GET", "/api/session") : null;

const state = signedIn
  ? {
      visitor: signedIn.id,
      firstName: signedIn.first_name ?? "",
      consents: signedIn.consents,
      tier: signedIn.tier,
    }
  : (session.load() ?? {
      visitor: `visitor-${Date.now().toString(36)}`,
      firstName: "Mia",
      consents: [],
    });

function profile() {
  const p = { id: state.visitor, first_name: state.firstName, consents: state.consents };
  return o2o ? { ...p, tier: state.tier ?? "silver" } : p;
}

await init();
const bytes = new Uint8Array(await (await fetch(config.bundle)).arrayBuffer());
const engine = Engine.fromBundle(bytes, { profile: profile() });

function showStorage() {
  const lines = [];
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    lines.push(`${key} = ${localStorage.getItem(key)}`);
  }
  $("storage").textContent = lines.length
    ? lines.join("\n")
    : `(empty: storage needs the consent ${engine.storageConsent.map((s) => s.join(" + ")).join(" or ")})`;
}

function showResult({ decisions, explanation }) {
  $("decisions").textContent = decisions.length
    ? JSON.stringify(decisions, null, 2)
    : "(no rule fired: the slots keep their defaults)";
  const list = $("explanation");
  list.replaceChildren();
  for (const r of explanation.rules) {
    const item = document.createElement("li");
    const detail = r.condition ?? r.missing?.join(", ") ?? r.winner ?? r.group ?? "";
    item.textContent = `${r.rule}: ${r.outcome.replaceAll("_", " ")}${detail ? ` (${detail})` : ""}`;
    list.append(item);
  }
  if (explanation.duplicate) {
    const item = document.createElement("li");
    item.textContent = "a duplicate event: nothing evaluated";
    list.append(item);
  }
}

// In the O2O mode every event the page evaluates is journaled with the memory it was evaluated
// on, so the demo can replay it through the native engine (`omnirule run`) and compare.
const journal = [];

/** Tracks one event, renders its decisions into the slots and shows why. */
function track(event) {
  if (o2o) {
    // Explicit id and time (what the JS edge would fill in), so the journal holds the exact input.
    event = { ...event, id: event.id ?? crypto.randomUUID(), time: event.time ?? Date.now() };
    journal.push({ profile: profile(), memory: engine.memoryJson(), event });
  }
  const result = engine.explain(event);
  if (o2o) journal[journal.length - 1].decisions = result.decisions;
  personalise(result.decisions);
  showResult(result);
  showStorage();
  document.body.dataset.events = String(Number(document.body.dataset.events ?? 0) + 1);
  return result;
}

function route() {
  const match = o2o
    ? /^\/products\/([\w-]+)$/.exec(location.pathname)
    : /^#\/p\/([\w-]+)$/.exec(location.hash);
  const product = match && products.find((p) => p.sku === match[1]);
  $("catalogue").hidden = Boolean(product);
  $("product").hidden = !product;
  if (!product) return;
  $("product-name").textContent = product.name;
  $("product-category").textContent = product.category;
  $("product-price").textContent = `${product.price} EUR`;
  $("product-text").textContent = product.text;
  $("product-sku").textContent = `Ref. ${product.sku}`;
  // A product page records a view; the time and id are filled in by the package. A page the
  // edge personalised says which event it evaluated: the page records that same event, so one
  // view is one remembered event wherever the memories meet.
  const fromEdge = edgeEvent();
  if (fromEdge?.type === "page_view" && fromEdge.sku === product.sku) {
    track(fromEdge);
  } else {
    track({ type: "page_view", sku: product.sku, category: product.category, price: product.price });
  }
}

/** The event the edge evaluated for this page (`<meta name="omnirule-event">`), taken once. */
function edgeEvent() {
  const meta = document.querySelector('meta[name="omnirule-event"]');
  if (!meta) return null;
  meta.remove();
  try {
    return JSON.parse(meta.content);
  } catch {
    return null;
  }
}

async function applyProfile(save = true) {
  if (o2o) {
    if (save) await api("PUT", "/api/session", profile()); // the shop signs it; the edge reads the cookie
  } else {
    session.save(state);
  }
  engine.setProfile(profile()); // stores or removes the memory according to the consents
  $("visitor-id").textContent = state.visitor;
  $("first-name").value = state.firstName;
  for (const purpose of ["personalisation", "marketing", "location"]) {
    $(`consent-${purpose}`).checked = state.consents.includes(purpose);
  }
  showStorage();
}

for (const p of products) {
  const item = document.createElement("li");
  const link = document.createElement("a");
  link.href = o2o ? `/products/${p.sku}` : `#/p/${p.sku}`;
  link.id = `product-${p.sku}`;
  const name = document.createElement("span");
  name.textContent = p.name;
  const price = document.createElement("span");
  price.className = "price";
  price.textContent = `${p.price} EUR`;
  link.append(name, price);
  item.append(link);
  $("products").append(item);
}

for (const purpose of ["personalisation", "marketing", "location"]) {
  $(`consent-${purpose}`).addEventListener("change", (e) => {
    const others = state.consents.filter((c) => c !== purpose);
    state.consents = e.target.checked ? [...others, purpose].sort() : others;
    applyProfile().catch(showError);
  });
}

$("visitor").addEventListener("submit", (e) => {
  e.preventDefault();
  state.visitor = `visitor-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  state.firstName = $("first-name").value;
  applyProfile().catch(showError);
});

$("store-visit").addEventListener("click", () => {
  track({ type: "beacon_enter", store: "berlin-mitte", zone: "door" });
});

$("forget").addEventListener("click", () => {
  engine.forget();
  showStorage();
});

function showError(e) {
  $("decisions").textContent = `error: ${e.message}`;
}

// ----- the O2O mode: the page, the shop's backend and the store host ---------------------------

/** Web -> store: the page hands its memory to the shop's backend, which merges it into the store. */
async function handoff() {
  if (!engine.storageAllowed) {
    return { sent: false, reason: "no consent to keep a memory: nothing leaves the page" };
  }
  return { sent: true, ...(await api("POST", "/api/handoff", engine.memoryJson())) };
}

/** Store -> web: the backend pulls the store's memory (and refreshes the edge's cookie); the page merges it. */
async function sync() {
  const out = await api("POST", "/api/sync");
  if (out.memory) engine.merge(JSON.stringify(out.memory));
  showStorage();
  return out;
}

if (o2o) {
  $("home").href = "/";
  $("back").href = "/";
  $("rules").textContent = config.rules;
  $("edge-note").textContent = ", and on its way to you by the edge worker";
  $("store-visit").hidden = true;
  // examples/10-o2o-loop declares the marketing and location consents only.
  $("consent-personalisation").closest("label").hidden = true;
  $("o2o").hidden = false;
  const log = (what, out) => {
    $("o2o-log").textContent = `${what}\n${JSON.stringify(out, null, 2)}`;
  };
  $("o2o-enter").addEventListener("click", async () => {
    try {
      const handed = await handoff();
      const store = await api("POST", "/api/store/beacon");
      const offer = store.decisions.find((d) => d.action === "offer");
      document.querySelector("[data-omnirule-slot=door-screen]").textContent =
        offer ? offer.params.message : "(the screen shows the store's logo)";
      log("memory handed to the store, then the entrance beacon:", { handed, store });
    } catch (e) {
      showError(e);
    }
  });
  $("o2o-buy").addEventListener("click", async () => {
    try {
      const store = await api("POST", "/api/store/purchase", { sku: "SW-1" });
      const back = await sync();
      log("bought SW-1 at the till; the store's memory came back:", { store, back });
    } catch (e) {
      showError(e);
    }
  });
}

window.addEventListener("hashchange", route);
await applyProfile(!o2o); // in the O2O mode the session already holds this profile
route();
// For the browser test, the O2O demo and the curious: the engine behind the page.
window.omniruleDemo = { engine, personalise, products, journal, handoff, sync, o2o };
document.body.dataset.ready = "true";
