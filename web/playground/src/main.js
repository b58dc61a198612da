// The playground: CodeMirror 6 on the left with the compiler's own diagnostics as you type;
// on the right, the rules tried on a profile and a timeline, their tests, and their graph.
// Everything runs in the page (the authoring package: compiler and engine in one wasm module).
import init, { Engine, compile, format, runTests } from "omnirule";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { bracketMatching, indentOnInput } from "@codemirror/language";
import { linter, lintGutter } from "@codemirror/lint";
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import { rulesLanguage, rulesHighlight } from "./rules-lang.js";
import { drawGraph } from "./graph.js";
import { TryIt } from "./tryit.js";
import { loadSaved, save, shareUrl, stateFromUrl } from "./state.js";

const $ = (id) => document.getElementById(id);
const status = (text, kind = "") => {
  $("status").textContent = text;
  $("status").className = kind;
};

await init({ module_or_path: new URL("omnirule_bg.wasm", location.href) });
const examples = await (await fetch("examples.json")).json();

/** Timeline entries from an example's events (`{type, id, time, ...fields}`). */
function timelineOf(events) {
  return events.map(({ type, id, time, ...fields }) => ({
    type, id, time: typeof time === "number" ? new Date(time).toISOString() : time,
    channel: ["beacon", "beacon_enter", "tap", "wristband_tap"].includes(type) || fields.channel === "store" ? "store" : "web",
    fields,
  }));
}

function exampleState(ex) {
  return { example: ex.name, rules: ex.rules, profile: structuredClone(ex.profile), events: timelineOf(ex.events) };
}

const initial = (await stateFromUrl()) ?? loadSaved()
  ?? exampleState(examples.find((e) => e.name === "10-o2o-loop") ?? examples[0]);

// ----- the editor and its diagnostics ----------------------------------------------------------

/** A diagnostic's 1-based line and column (in characters) as a document offset. */
function offset(doc, line, column) {
  const l = doc.line(Math.min(Math.max(line, 1), doc.lines));
  let at = 0;
  let c = 1;
  for (const ch of l.text) {
    if (c >= column) break;
    at += ch.length;
    c++;
  }
  return l.from + at;
}

let lastCompile = { ms: 0, result: null };
const tryIt = new TryIt({
  Engine,
  profileEl: $("profile"),
  timelineEl: $("timeline"),
  onChange: () => persist(),
});

function compiled(result) {
  const problems = $("problems");
  problems.replaceChildren(...result.diagnostics.map((d) => {
    const item = document.createElement("div");
    item.className = `problem ${d.severity}`;
    item.innerHTML = "<span class=code></span> <span class=where></span> <span class=msg></span>";
    item.querySelector(".code").textContent = d.code;
    item.querySelector(".where").textContent = `${d.line}:${d.column}`;
    item.querySelector(".msg").textContent = d.message + (d.help ? ` — ${d.help}` : "");
    item.addEventListener("click", () => jump(d.line, d.column, d.end_line, d.end_column));
    return item;
  }));
  const errors = result.diagnostics.filter((d) => d.severity === "error").length;
  if (result.ok) {
    status(`✓ compiled in ${lastCompile.ms.toFixed(1)} ms`, "ok");
    tryIt.setBundle(result.bundle, result.schema);
    graphData = result.graph;
    if (!$("tab-graph").hidden) drawGraph($("graph"), graphData, (line) => jump(line, 1));
  } else {
    // The panels keep the last rules that compiled; the status says so.
    status(`${errors} error${errors === 1 ? "" : "s"}: trying the last rules that compiled`, "error");
  }
}

const rulesLinter = linter((view) => {
  const text = view.state.doc.toString();
  const t = performance.now();
  const result = compile(text, { outline: true });
  lastCompile = { ms: performance.now() - t, result };
  compiled(result);
  persist();
  return result.diagnostics.map((d) => {
    const from = offset(view.state.doc, d.line, d.column);
    const to = Math.max(from + 1, offset(view.state.doc, d.end_line, d.end_column));
    return {
      from,
      to: Math.min(to, view.state.doc.length),
      severity: d.severity,
      source: d.code,
      message: `${d.message}${d.label ? ` (${d.label})` : ""}${d.help ? `\nhelp: ${d.help}` : ""}`,
    };
  });
}, { delay: 25 });

function formatNow() {
  const text = view.state.doc.toString();
  const out = format(text);
  if (!out.ok) {
    status("cannot format: fix the syntax errors first", "error");
    return true;
  }
  if (out.text !== text) {
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: out.text } });
  }
  status("formatted", "ok");
  return true;
}

const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({
    doc: initial.rules,
    extensions: [
      lineNumbers(), history(), drawSelection(), indentOnInput(), bracketMatching(),
      highlightActiveLine(), highlightSelectionMatches(), rulesLanguage, rulesHighlight,
      lintGutter(), rulesLinter,
      keymap.of([{ key: "Mod-s", preventDefault: true, run: formatNow }, indentWithTab,
        ...defaultKeymap, ...historyKeymap, ...searchKeymap]),
    ],
  }),
});

function jump(line, column, endLine = line, endColumn = column) {
  const doc = view.state.doc;
  const from = offset(doc, line, column);
  const to = Math.max(from, offset(doc, endLine, endColumn));
  view.dispatch({ selection: { anchor: from, head: to }, scrollIntoView: true });
  view.focus();
}

// ----- state --------------------------------------------------------------------------------

let example = initial.example ?? "";
function currentState() {
  return { example, rules: view.state.doc.toString(), profile: tryIt.state.profile, events: tryIt.state.events };
}
function persist() {
  save(currentState());
}

tryIt.setState(initial);

const picker = $("examples");
picker.append(new Option("(your rules)", ""));
for (const ex of examples) picker.append(new Option(`${ex.name}: ${ex.title}`, ex.name));
picker.value = example;
picker.addEventListener("change", () => {
  const ex = examples.find((e) => e.name === picker.value);
  if (!ex) return;
  const s = exampleState(ex);
  example = ex.name;
  tryIt.setState(s);
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: s.rules } });
});

$("format").addEventListener("click", formatNow);
$("share").addEventListener("click", async () => {
  const url = await shareUrl(currentState());
  window.history.replaceState(null, "", url);
  try {
    await navigator.clipboard.writeText(url);
    status("link copied", "ok");
  } catch {
    status("link in the address bar", "ok");
  }
});
$("add-event").addEventListener("click", () => tryIt.addEvent());

// ----- tabs, tests, graph -------------------------------------------------------------------

let graphData = null;
for (const tab of document.querySelectorAll("nav [role=tab]")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll("nav [role=tab]")) {
      t.setAttribute("aria-selected", String(t === tab));
      $(`tab-${t.dataset.tab}`).hidden = t !== tab;
    }
    if (tab.dataset.tab === "graph") drawGraph($("graph"), graphData, (line) => jump(line, 1));
  });
}

$("run-tests").addEventListener("click", () => {
  const out = runTests(view.state.doc.toString());
  const box = $("tests");
  if (!out.ok) {
    box.replaceChildren(Object.assign(document.createElement("p"), { className: "fail", textContent: "The rules do not compile: see the problems under the editor." }));
    return;
  }
  const passed = out.tests.filter((t) => t.passed).length;
  const summary = Object.assign(document.createElement("p"), {
    className: passed === out.tests.length ? "pass" : "fail",
    textContent: `${passed} passed, ${out.tests.length - passed} failed`,
  });
  box.replaceChildren(summary, ...out.tests.map((t) => {
    const item = document.createElement("div");
    item.className = `test ${t.passed ? "pass" : "fail"}`;
    item.textContent = `${t.passed ? "✓" : "✗"} ${t.name} (line ${t.line})`;
    item.addEventListener("click", () => jump(t.line, 1));
    for (const f of t.failures) {
      const why = document.createElement("div");
      why.className = "why";
      why.textContent = `line ${f.line}: ${f.message}`;
      why.addEventListener("click", (e) => {
        e.stopPropagation();
        jump(f.line, f.column);
      });
      item.append(why);
    }
    return item;
  }));
});

if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("sw.js").catch(() => {});
}

// For tests and the benchmark: the editor, the last compile, the state.
window.playground = { view, lastCompile: () => lastCompile, state: currentState, ready: true, readyAt: performance.now() };
