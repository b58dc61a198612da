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
