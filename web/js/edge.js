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
