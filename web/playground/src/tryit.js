// "Try it": a profile and a timeline of events, both as forms built from the compiled schema,
// played through the engine (the runtime the page ships, not a simulation): per event the
// decisions, the conversions, why each triggered rule fired or not (with the values it saw),
// the memory after it, and what the privacy rules kept or dropped of it.
const h = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "value") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined) e.append(c);
  return e;
};

/** The schema's type as a word: "String", "Number", ... or "List"/"Set" with the element's. */
const kindOf = (ty) => (typeof ty === "string" ? ty : Object.keys(ty)[0]);
const elementOf = (ty) => (typeof ty === "string" ? null : kindOf(Object.values(ty)[0]));

/** A form value to the JSON an event or profile carries (undefined: leave it out). */
function parseValue(ty, text) {
  if (text === "" || text === undefined) return undefined;
  switch (kindOf(ty)) {
    case "Number":
    case "Duration": {
      const n = Number(text);
      return Number.isFinite(n) ? n : text;
    }
    case "Bool":
      return text === true || text === "true";
    case "List":
    case "Set":
      return String(text).split(",").map((s) => s.trim()).filter((s) => s !== "")
        .map((s) => (["Number", "Duration"].includes(elementOf(ty)) ? Number(s) : s));
    default:
      return text;
  }
}

const shown = (v) => (v === undefined ? "" : Array.isArray(v) ? v.join(", ") : String(v));

/** One labelled input per declared field. */
function fieldInputs(fields, values, onChange) {
  return fields.map((f) => {
    const kind = kindOf(f.ty);
    const label = `${f.name}${f.optional ? "?" : ""}${f.pii ? " (pii)" : ""}`;
    const input = kind === "Bool"
      ? h("input", { type: "checkbox", checked: values[f.name] === true, "data-field": f.name,
        onchange: (e) => onChange(f.name, e.target.checked) })
      : h("input", {
        type: kind === "Number" || kind === "Duration" ? "number" : "text",
        step: "any",
        value: shown(values[f.name]),
        placeholder: kind === "List" || kind === "Set" ? "a, b, c" : kind === "Time" ? "2026-11-20T10:00:00Z" : kind.toLowerCase(),
        "data-field": f.name,
        oninput: (e) => onChange(f.name, parseValue(f.ty, e.target.value)),
      });
    return [h("label", {}, label), input];
  });
}

const TIME_SHIFTS = [["−1d", -86400000], ["−1h", -3600000], ["+1h", 3600000], ["+1d", 86400000]];

const OUTCOMES = {
  fired: "fired",
  no_consent: "no consent",
  inactive: "not active on this date",
  outside_hours: "outside its hours",
  outside_days: "not on this day",
  cap_reached: "its cap is reached",
  group_cap_reached: "its group's cap is reached",
  lost_to: "lost to a higher-priority rule of its group",
  condition_false: "the condition is false",
  split_unit_missing: "the split's unit is missing",
};

export class TryIt {
  constructor({ Engine, profileEl, timelineEl, onChange }) {
    this.Engine = Engine;
    this.profileEl = profileEl;
    this.timelineEl = timelineEl;
    this.onChange = onChange;
    this.bundle = null;
    this.schema = null;
    this.state = { profile: { id: "c1", consents: [] }, events: [] };
  }

  setState(state) {
    this.state = { profile: state.profile ?? { id: "c1", consents: [] }, events: state.events ?? [] };
    this.render();
  }

  setBundle(bundle, schema) {
    const changed = JSON.stringify(schema) !== JSON.stringify(this.schema);
    this.bundle = bundle;
    this.schema = schema;
    if (changed) this.render();
    else this.run();
  }

  changed() {
    this.onChange();
    this.run();
  }

  render() {
    this.renderProfile();
    this.renderTimeline();
    this.run();
  }

  renderProfile() {
    const p = this.state.profile;
    if (!this.schema) {
      this.profileEl.replaceChildren(h("p", { class: "hint" }, "Fix the rules to edit the profile."));
      return;
    }
    const set = (name, value) => {
      if (value === undefined) delete p[name];
      else p[name] = value;
      this.changed();
    };
    const consents = h("div", { class: "consents" }, this.schema.consents.map((c) =>
      h("label", {}, h("input", {
        type: "checkbox", checked: (p.consents ?? []).includes(c), "data-consent": c,
        onchange: (e) => {
          const now = new Set(p.consents ?? []);
          if (e.target.checked) now.add(c); else now.delete(c);
          p.consents = [...now].sort();
          this.changed();
        },
      }), ` ${c}`)));
    this.profileEl.replaceChildren(h("div", { class: "form" },
      h("label", {}, "id"),
      h("input", { type: "text", value: p.id ?? "", "data-field": "id", oninput: (e) => set("id", e.target.value) }),
      h("label", {}, "consents"), consents,
      fieldInputs(this.schema.profile, p, set)));
  }

  renderTimeline() {
    const events = this.state.events;
    if (!this.schema) {
      this.timelineEl.replaceChildren();
      return;
    }
    this.results = [];
    this.timelineEl.replaceChildren(...events.map((ev, i) => {
      const type = this.schema.events.find((t) => t.name === ev.type) ?? this.schema.events[0];
      const move = (to) => {
        if (to < 0 || to >= events.length) return;
        events.splice(to, 0, ...events.splice(i, 1));
        this.onChange();
        this.render();
      };
      const shift = (ms) => {
        const t = Date.parse(ev.time);
        ev.time = new Date((Number.isFinite(t) ? t : Date.now()) + ms).toISOString().replace(".000Z", "Z");
        this.onChange();
        this.render();
      };
      const result = h("div", { class: "result" });
      this.results.push(result);
      return h("li", { "data-event": String(i) },
        h("div", { class: "event-head" },
          h("select", { "aria-label": "Event type", onchange: (e) => { ev.type = e.target.value; ev.fields = {}; this.onChange(); this.render(); } },
            this.schema.events.map((t) => {
              const o = h("option", { value: t.name }, t.name);
              o.selected = t.name === type?.name;
              return o;
            })),
          h("input", { type: "text", value: ev.time ?? "", "aria-label": "Time", oninput: (e) => { ev.time = e.target.value; this.changed(); } }),
          TIME_SHIFTS.map(([label, ms]) => h("button", { title: `Shift by ${label}`, onclick: () => shift(ms) }, label)),
          h("select", { "aria-label": "Where", onchange: (e) => { ev.channel = e.target.value; this.changed(); } },
            ["web", "store"].map((c) => {
              const o = h("option", { value: c }, c);
              o.selected = (ev.channel ?? "web") === c;
              return o;
            })),
          h("button", { title: "Earlier", onclick: () => move(i - 1) }, "↑"),
          h("button", { title: "Later", onclick: () => move(i + 1) }, "↓"),
          h("button", { title: "Remove", onclick: () => { events.splice(i, 1); this.onChange(); this.render(); } }, "✕")),
        h("div", { class: "form" }, fieldInputs(type?.fields ?? [], ev.fields ?? (ev.fields = {}), (name, value) => {
          if (value === undefined) delete ev.fields[name]; else ev.fields[name] = value;
          this.changed();
        })),
        result);
    }));
  }

  addEvent() {
    const last = this.state.events.at(-1);
    const t = last ? Date.parse(last.time) + 3600000 : Date.parse("2026-11-20T10:00:00Z");
    const type = this.schema?.events[0]?.name ?? "event";
    this.state.events.push({ type, time: new Date(Number.isFinite(t) ? t : Date.now()).toISOString().replace(".000Z", "Z"), channel: "web", fields: {} });
    this.onChange();
    this.render();
  }

  /** Plays the profile and the timeline through the engine and shows each event's outcome. */
  run() {
    if (!this.bundle || !this.results) return;
    let engine;
    try {
      engine = this.Engine.fromBundle(this.bundle, { storage: false });
    } catch (e) {
      this.results.forEach((r) => r.replaceChildren(h("div", { class: "fail" }, String(e.message ?? e))));
      return;
    }
    const profile = this.state.profile;
    let refused = null;
    try {
      engine.setProfile(profile);
    } catch (e) {
      refused = `The profile is not valid: ${String(e.message ?? e).replace(/^omnirule: /, "")}`;
    }
    this.state.events.forEach((ev, i) => {
      const box = this.results[i];
      if (!box) return;
      if (refused) {
        box.replaceChildren(h("div", { class: "fail" }, refused));
        return;
      }
      const id = ev.id ?? `e${i + 1}`;
      const sent = { type: ev.type, id, time: ev.time, ...(ev.fields ?? {}) };
      const channel = ev.channel ?? "web";
      engine.setPlace(channel, channel === "store" ? "store-1" : "edge");
      let out;
      try {
        out = engine.explain(sent);
      } catch (e) {
        box.replaceChildren(h("div", { class: "fail" }, `Refused: ${String(e.message ?? e).replace(/^omnirule: /, "")}`));
        return;
      }
      const memory = JSON.parse(engine.memoryJson());
      box.replaceChildren(...this.describe(sent, out, memory, profile));
    });
    engine.free();
  }

  describe(sent, out, memory, profile) {
    const parts = [];
    for (const d of out.decisions) {
      const what = d.action ? `${d.action} ${JSON.stringify(d.params)}` : "no action (the split's control arm)";
      const arm = d.experiment ? ` — split ${d.experiment}: ${d.variant}` : "";
      parts.push(h("div", { class: "decision" }, h("b", {}, d.rule), ` → ${what}${arm}`));
    }
    for (const c of out.conversions ?? []) {
      parts.push(h("div", { class: "conversion" }, h("b", {}, `${c.rule}: goal ${c.goal} met`),
        ` (${c.primary ? "primary" : "secondary"}${c.variant ? `, ${c.variant}` : ""}; exposed ${c.exposed_at}` +
        ` on ${c.exposure_channel ?? "?"}${c.value !== null ? `; value ${c.value}` : ""})`));
    }
    if (out.decisions.length === 0 && !(out.conversions ?? []).length) parts.push(h("div", { class: "hint" }, "No decision."));
    const why = out.explanation;
    if (why?.duplicate) parts.push(h("div", { class: "why" }, "A duplicate: this event id was already seen, so nothing happens."));
    for (const r of why?.rules ?? []) {
      const held = r.outcome === "fired";
      const detail = r.outcome === "condition_false" ? `: ${r.condition}${this.valuesSeen(r.condition, sent, profile)}`
        : r.outcome === "no_consent" ? ` (missing ${r.missing.join(", ")})`
          : r.outcome === "lost_to" ? ` (${r.winner})` : r.variant ? ` (${r.variant})` : "";
      parts.push(h("div", { class: "why" }, h("span", { class: held ? "held" : "failed" }, held ? "✓ " : "✗ "),
        `${r.rule}: ${OUTCOMES[r.outcome] ?? r.outcome}${detail}`));
    }
    // Privacy: what memory kept of this event.
    const kept = memory.events?.find((e) => e.id === sent.id && e.type === sent.type);
    const sentFields = Object.keys(sent).filter((k) => !["type", "id", "time"].includes(k));
    const privacy = kept
      ? h("div", { class: "why" }, "Remembered: ",
        sentFields.map((f) => h("span", { class: f in kept.fields ? "kept" : "dropped" }, `${f} `)),
        sentFields.some((f) => !(f in kept.fields)) ? "(struck out: no rule reads it, so it is not kept)" : "")
      : h("div", { class: "why" }, memory.seen?.some((s) => s.id === sent.id)
        ? "Not remembered: no rule reads this event's history (only its id, against replays)."
        : "Nothing kept: the profile's consents allow no rule to remember anything.");
    parts.push(privacy);
    parts.push(h("details", {}, h("summary", {}, "Memory after this event"), h("pre", {}, JSON.stringify(memory, null, 2))));
    return parts;
  }

  /** The event and profile values a condition mentions, as they were. */
  valuesSeen(condition, sent, profile) {
    const seen = [];
    for (const m of condition.matchAll(/\b(event|profile)\.([a-z_][a-z0-9_]*)/g)) {
      const v = m[1] === "event" ? sent[m[2]] : profile[m[2]];
      const s = `${m[0]} = ${v === undefined ? "missing" : JSON.stringify(v)}`;
      if (!seen.includes(s)) seen.push(s);
    }
    return seen.length ? ` (seen: ${seen.join(", ")})` : "";
  }
}
