// The JavaScript edge of the engine: the only place the browser package reads a clock or makes
// up an identifier. The engine itself is a pure function of (bundle, memory, profile, event);
// an event that arrives without `time` or `id` gets them here, before it crosses into wasm.

let counter = 0;

function newId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") {
    return c.randomUUID();
  }
  counter += 1;
  return `js-${Date.now().toString(36)}-${counter.toString(36)}`;
}

/// A copy of `event` with `time` (Date.now(), integer milliseconds) and `id` filled in when
/// they are absent (undefined or null). Anything that is not a plain object is returned as is:
/// the engine reports it.
export function stamp(event) {
  if (event === null || typeof event !== "object" || Array.isArray(event)) {
    return event;
  }
  const needsTime = event.time === undefined || event.time === null;
  const needsId = event.id === undefined || event.id === null;
  if (!needsTime && !needsId) {
    return event;
  }
  const out = { ...event };
  if (needsTime) out.time = Date.now();
  if (needsId) out.id = newId();
  return out;
}

/// JSON text of a value crossing into wasm: one native `JSON.stringify` instead of a property
/// by property walk from wasm. `undefined` (for `undefined`, functions, symbols) tells the
/// engine the value is not JSON-like; a `BigInt` or a cycle throws, and the engine reports it.
export function toJson(value) {
  return JSON.stringify(value);
}

/// `toJson(stamp(event))`: an event's text, with `time` and `id` filled in, in one crossing.
export function stampJson(event) {
  return JSON.stringify(stamp(event));
}

/// Decisions from the text `Engine.track` writes: a JSON array whose items are decision
/// objects, or the number of a constant decision already sent (`templates[n]`), or
/// `[n, decision]` for a constant decision sent for the first time, which is kept as
/// `templates[n]`. Constant decisions (those of action calls with literal params) are most of
/// what rules return; parsing each once and copying it afterwards costs a fraction of parsing
/// its text on every event. Every call returns fresh objects, so callers may change them.
export function decisionsOf(text, templates) {
  const items = JSON.parse(text);
  for (let i = 0; i < items.length; i++) {
    const x = items[i];
    if (typeof x === "number") {
      items[i] = copyDecision(templates[x]);
    } else if (Array.isArray(x)) {
      templates[x[0]] = x[1];
      items[i] = copyDecision(x[1]);
    }
  }
  return items;
}

// The same keys in the same order as `JSON.parse` of the canonical text gives.
function copyDecision(d) {
  return {
    action: d.action,
    experiment: d.experiment,
    group: d.group,
    params: copyJson(d.params),
    rule: d.rule,
    variant: d.variant,
  };
}

function copyJson(v) {
  if (v === null || typeof v !== "object") {
    return v;
  }
  if (Array.isArray(v)) {
    return v.map(copyJson);
  }
  const out = {};
  for (const k of Object.keys(v)) {
    out[k] = copyJson(v[k]);
  }
  return out;
}
