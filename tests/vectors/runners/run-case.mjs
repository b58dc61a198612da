// Runs one prepared conformance case (a line of cases.jsonl) with the browser package's Engine.
// Shared by the Node, Chromium and workerd runners, so they differ only in where they run.
// Output: {"id", "steps": [{"decisions": [...]} | {"error": "..."}], "memory": <memory JSON>}.

function message(e) {
  return String(e?.message ?? e).replace(/^omnirule: /, "");
}

export function runCase(Engine, bundleBytes, c) {
  const options = { storage: false };
  const engine = c.memory === null
    ? Engine.fromBundle(bundleBytes, options)
    : Engine.withMemory(bundleBytes, JSON.stringify(c.memory), options);
  let profileError = null;
  try {
    engine.setProfile(c.profile);
  } catch (e) {
    profileError = message(e);
  }
  const steps = c.events.map((event, i) => {
    if (profileError !== null) return { error: profileError };
    // Where the step happens (a vector's `places`); none: unknown.
    const place = c.places?.[i] ?? null;
    engine.setPlace(place?.channel ?? null, place?.host ?? null);
    try {
      return JSON.parse(engine.trackJson(JSON.stringify(event)));
    } catch (e) {
      return { error: message(e) };
    }
  });
  const memory = JSON.parse(engine.memoryJson());
  engine.free();
  return { id: c.id, steps, memory };
}

/** Runs every case; `loadBundle(name)` returns the bundle's bytes. */
export function runAll(Engine, cases, loadBundle) {
  const cache = new Map();
  return cases.map((c) => {
    if (!cache.has(c.bundle)) cache.set(c.bundle, loadBundle(c.bundle));
    return runCase(Engine, cache.get(c.bundle), c);
  });
}
