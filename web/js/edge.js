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
      const template = { decision: x[1], flat: Object.values(x[1].params).every(scalar) };
      templates[x[0]] = template;
      items[i] = copyDecision(template);
    }
  }
  return items;
}

const scalar = (v) => v === null || typeof v !== "object";
const utf8Text = new TextDecoder();

/// `decisionsOf` for text at `ptr` in the engine's memory (`w` is its record writer). The
/// usual answer, numbers of constant decisions already sent (`[3,17]`), is read from the
/// bytes: decoding and parsing that text cost more than copying the decisions.
export function decisionsIn(w, ptr, len, templates) {
  w.views();
  const bytes = w.bytes;
  const items = [];
  const end = ptr + len - 1;
  let n = -1;
  for (let i = ptr + 1; i < end; i++) {
    const c = bytes[i];
    if (c >= 48 && c <= 57) {
      n = (n < 0 ? 0 : n * 10) + (c - 48);
    } else if (c === 44 && n >= 0) {
      items.push(copyDecision(templates[n]));
      n = -1;
    } else {
      return decisionsOf(utf8Text.decode(bytes.subarray(ptr, ptr + len)), templates);
    }
  }
  if (n >= 0) items.push(copyDecision(templates[n]));
  return items;
}

// A fresh copy with the keys in the order `JSON.parse` of the canonical text gives. Spreading
// a template copies its shape at once; params of scalars (most are) are copied the same way.
function copyDecision({ decision, flat }) {
  const d = { ...decision };
  d.params = flat ? { ...decision.params } : copyJson(decision.params);
  return d;
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

// Records: profiles and events written straight into the engine's memory in the layout of
// `engine/src/input/record.rs`, instead of JSON text the engine would parse. Only the members
// the schema declares are read (of the enumerable ones JSON.stringify would write); a value a record cannot carry makes the
// writer answer NO_RECORD, and the engine then takes the JSON path, whose checks say what is
// wrong. The engine decodes a record to exactly what that path would build, or refuses it.
const NO_RECORD = -1;
const NO_ROOM = -2;
const utf8 = new TextEncoder();

class RecordWriter {
  constructor(memory, layout) {
    this.memory = memory;
    // Every member name a record reads, numbered; `values` holds one object's members by
    // number (see `gather`).
    this.slots = Object.create(null);
    this.count = 0;
    const slotsOf = (keys) => Int32Array.from(keys, (k) => this.slotOf(k));
    this.typeSlot = this.slotOf("type");
    this.profile = slotsOf(layout.profile);
    this.events = new Map(layout.events.map(([name, keys], index) =>
      [name, { index, slots: slotsOf(keys) }]));
    this.values = new Array(this.count).fill(undefined);
    this.bytes = null;
    this.view = null;
  }

  slotOf(name) {
    let slot = this.slots[name];
    if (slot === undefined) {
      slot = this.count++;
      this.slots[name] = slot;
    }
    return slot;
  }

  // An object's members into `values` (undefined for those it lacks). One pass over its own
  // keys (the ones JSON.stringify writes) instead of a lookup per declared name: objects
  // parsed from JSON often have shapes of their own, and named lookups on them were most of
  // the cost of writing a record.
  gather(object) {
    const values = this.values;
    values.fill(undefined);
    const slots = this.slots;
    for (const key in object) {
      const slot = slots[key];
      if (slot !== undefined) values[slot] = object[key];
    }
  }

  // Views over the engine's memory. Growing the memory detaches the old buffer (its views
  // then have length 0): only then is `memory.buffer`, a slower call, asked again.
  views() {
    if (this.bytes !== null && this.bytes.byteLength !== 0) return;
    const buffer = this.memory.buffer;
    if (this.bytes === null || this.bytes.buffer !== buffer) {
      this.bytes = new Uint8Array(buffer);
      this.view = new DataView(buffer);
    }
  }
}

/// A writer for one engine: `layout` is the JSON text of `{ profile: [names], events:
/// [[type, [names]], ...] }` (`record::profile_keys`, `record::event_keys`).
export function recordWriter(memory, layout) {
  return new RecordWriter(memory, JSON.parse(layout));
}

// What JSON.stringify would treat as a plain object: its members, not a `toJSON` result. (An
// own-property test: a `toJSON` lookup that misses costs several times more.)
const hasOwn = Object.prototype.hasOwnProperty;
function plainObject(x) {
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  if (proto === Object.prototype) return !hasOwn.call(x, "toJSON") && proto.toJSON === undefined;
  return proto === null && !hasOwn.call(x, "toJSON");
}

// A string's length and UTF-8 bytes at `pos`; the position after it, or NO_ROOM / NO_RECORD.
function writeString(w, s, pos, end) {
  const n = s.length;
  const start = pos + 4;
  if (start + n > end) return NO_ROOM;
  const bytes = w.bytes;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) {
      // JSON text keeps a lone surrogate as an escape that the engine refuses; only
      // well-formed strings are written (and only where that can be asked).
      if (typeof s.isWellFormed !== "function" || !s.isWellFormed()) return NO_RECORD;
      const { read, written } = utf8.encodeInto(s.slice(i), bytes.subarray(start + i, end));
      if (read < n - i) return NO_ROOM;
      w.view.setUint32(pos, i + written, true);
      return start + i + written;
    }
    bytes[start + i] = c;
  }
  w.view.setUint32(pos, n, true);
  return start + n;
}

// One value (tag and payload) at `pos`; the position after it, or NO_ROOM / NO_RECORD.
function writeValue(w, v, pos, end) {
  if (pos + 9 > end) return NO_ROOM;
  switch (typeof v) {
    case "string":
      w.bytes[pos] = 4;
      return writeString(w, v, pos + 1, end);
    case "number":
      // JSON.stringify writes NaN and the infinities as null.
      if (!Number.isFinite(v)) {
        w.bytes[pos] = 0;
        return pos + 1;
      }
      w.bytes[pos] = 3;
      w.view.setFloat64(pos + 1, v, true);
      return pos + 9;
    case "boolean":
      w.bytes[pos] = v ? 2 : 1;
      return pos + 1;
    // JSON.stringify leaves these members out: absent.
    case "undefined":
    case "function":
    case "symbol":
      w.bytes[pos] = 0;
      return pos + 1;
    case "object": {
      if (v === null) {
        w.bytes[pos] = 0;
        return pos + 1;
      }
      if (!Array.isArray(v) || Object.getPrototypeOf(v) !== Array.prototype) return NO_RECORD;
      w.bytes[pos] = 5;
      w.view.setUint32(pos + 1, v.length, true);
      let at = pos + 5;
      for (let i = 0; i < v.length; i++) {
        const s = v[i];
        if (typeof s !== "string") return NO_RECORD;
        at = writeString(w, s, at, end);
        if (at < 0) return at;
      }
      return at;
    }
    default:
      // A BigInt: JSON.stringify throws, and the JSON path reports it.
      return NO_RECORD;
  }
}

// The gathered values of `slots` (from the `from`th), in order.
function writeMembers(w, slots, from, pos, end) {
  const values = w.values;
  for (let i = from; i < slots.length; i++) {
    pos = writeValue(w, values[slots[i]], pos, end);
    if (pos < 0) return pos;
  }
  return pos;
}

/// Writes a profile's record at `ptr` (at most `cap` bytes): its length, or NO_ROOM (the
/// engine offers more room) or NO_RECORD (the engine takes the JSON path). Never throws: a
/// getter that throws sends the value down the JSON path, which reports it.
export function writeProfile(w, profile, ptr, cap) {
  try {
    return writeProfileRecord(w, profile, ptr, cap);
  } catch {
    return NO_RECORD;
  }
}

/// An event's record, as `writeProfile`; a missing `time` or `id` is filled in as `stamp`
/// does.
export function writeEvent(w, event, ptr, cap) {
  try {
    return writeEventRecord(w, event, ptr, cap);
  } catch {
    return NO_RECORD;
  }
}

function writeProfileRecord(w, profile, ptr, cap) {
  if (!plainObject(profile)) return NO_RECORD;
  w.gather(profile);
  w.views();
  const end = ptr + cap;
  const pos = writeMembers(w, w.profile, 0, ptr, end);
  return pos < 0 ? pos : pos - ptr;
}

function writeEventRecord(w, event, ptr, cap) {
  if (!plainObject(event)) return NO_RECORD;
  w.gather(event);
  const values = w.values;
  const type = w.events.get(values[w.typeSlot]);
  if (type === undefined) return NO_RECORD;
  w.views();
  const end = ptr + cap;
  if (ptr + 4 > end) return NO_ROOM;
  w.view.setUint32(ptr, type.index, true);
  const [idSlot, timeSlot] = type.slots;
  const id = values[idSlot];
  let pos = writeValue(w, id === undefined || id === null ? newId() : id, ptr + 4, end);
  if (pos < 0) return pos;
  const time = values[timeSlot];
  pos = writeValue(w, time === undefined || time === null ? Date.now() : time, pos, end);
  if (pos < 0) return pos;
  pos = writeMembers(w, type.slots, 2, pos, end);
  return pos < 0 ? pos : pos - ptr;
}

/// Whether `signature` is `key`'s Ed25519 signature of `message`, with the platform's
/// WebCrypto (browsers, Node, workerd): a promise of a boolean. The curve arithmetic stays out
/// of the wasm module this way. Rejects with a clear error where WebCrypto lacks Ed25519.
export function verifyEd25519(key, message, signature) {
  const subtle = globalThis.crypto?.subtle;
  const unsupported = (e) => {
    throw new Error(`omnirule: this platform cannot check Ed25519 signatures (WebCrypto: ${e?.message ?? e})`);
  };
  if (!subtle) return Promise.reject(new Error("omnirule: this platform has no WebCrypto to check the bundle's signature"));
  return subtle
    .importKey("raw", key, { name: "Ed25519" }, false, ["verify"])
    .then((k) => subtle.verify({ name: "Ed25519" }, k, signature, message), unsupported);
}

// The exposures of one `track`, for `onExposure`: each decision object the page gets, with
// the event's `head` (JSON text `[time, customer, event, channel, host, weight...]`, a weight
// per decision, from `exposure_head` in src/lib.rs). The objects have the members, in the
// order, of `JSON.parse` of the line `write_exposures` (engine/src/host.rs) writes: parsing a
// line per exposure was about 2.8 µs of the 3.8 µs logging added to an event in Node
// (bench/node-exposures.mjs). What a callback throws is its own business, not the event's.
export function exposuresFrom(callback, decisions, head) {
  const [time, customer, event, channel, host, ...weights] = JSON.parse(head);
  for (let i = 0; i < decisions.length; i++) {
    const d = decisions[i];
    try {
      callback({
        kind: "exposure",
        time,
        customer,
        rule: d.rule,
        experiment: d.experiment,
        variant: d.variant,
        weight: weights[i],
        channel,
        host,
        event,
      });
    } catch {
      // As above: the page's callback failing is not the engine's error.
    }
  }
}

// Calls `callback` with each of `lines` (JSON lines: conversions, and the exposures of the
// calls that have no decision objects of their own) as an object. One crossing for all of an
// event's lines: a crossing to `JSON.parse` and another to the callback, per line, cost more
// than the parsing itself.
export function linesTo(callback, lines) {
  for (const line of lines.split("\n")) {
    if (line === "") continue;
    let value;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    try {
      callback(value);
    } catch {
      // The page's callback failing is not the engine's error.
    }
  }
}
