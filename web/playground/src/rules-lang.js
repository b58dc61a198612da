// The `.rules` language for CodeMirror: a stream tokenizer (the grammar is small and
// line-oriented enough that a Lezer grammar would duplicate dsl/src/grammar.pest for little
// gain; the compiler's own diagnostics, not the highlighter, say what is wrong).
import { StreamLanguage, HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { tags as t } from "@lezer/highlight";

const KEYWORDS = new Set([
  "active", "action", "and", "as", "at", "by", "consent", "control", "days", "do", "event",
  "expect", "group", "hours", "in", "is", "limit", "missing", "not", "now", "once", "on", "or",
  "per", "present", "priority", "profile", "retain", "rule", "schema", "seen", "segment",
  "since", "split", "test", "timezone", "when", "where", "within", "goal", "value", "primary",
  "conversion", "no", "nothing",
]);
const ATOMS = new Set(["true", "false"]);
const TYPES = new Set(["string", "number", "bool", "duration", "time", "list", "set", "pii"]);
const FUNCTIONS = new Set([
  "count", "sum", "last", "time_since", "lower", "upper", "len", "contains", "starts_with",
  "ends_with",
]);
const DAYS = new Set(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);

/** Inside a string: up to its end or an interpolation. */
function stringBody(stream, state) {
  while (!stream.eol()) {
    const ch = stream.next();
    if (ch === "\\") {
      stream.next();
    } else if (ch === "\"") {
      state.inString = false;
      return "string";
    } else if (ch === "{" && stream.peek() !== "{") {
      stream.backUp(1);
      if (stream.current().length > 0) return "string";
      stream.next();
      state.inString = false;
      state.interp.push(0);
      return "brace";
    } else if (ch === "{") {
      stream.next();
    }
  }
  state.inString = false; // strings never span lines
  return "string";
}

export const rulesLanguage = StreamLanguage.define({
  name: "omnirule",
  startState: () => ({ inString: false, interp: [], defining: null }),
  token(stream, state) {
    if (state.inString) return stringBody(stream, state);
    if (stream.eatSpace()) return null;
    if (stream.match("#")) {
      stream.skipToEnd();
      return "comment";
    }
    const open = state.interp.length;
    if (open > 0 && stream.peek() === "{") state.interp[open - 1]++;
    if (open > 0 && stream.peek() === "}") {
      if (state.interp[open - 1] === 0) {
        stream.next();
        state.interp.pop();
        state.inString = true;
        return "brace";
      }
      state.interp[open - 1]--;
    }
    if (stream.match("\"")) {
      state.inString = true;
      return stringBody(stream, state);
    }
    if (stream.match(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})/)) return "atom";
    if (stream.match(/^\d{4}-\d{2}-\d{2}/)) return "atom";
    if (stream.match(/^\d{2}:\d{2}\b/)) return "atom";
    if (stream.match(/^\d+(\.\d+)?%/)) return "number";
    if (stream.match(/^\d+[smhdw]\b/)) return "number";
    if (stream.match(/^\d+(\.\d+)?/)) return "number";
    if (stream.match(/^(==|!=|<=|>=|\?\?|\.\.|[<>+\-*\/=])/)) return "operator";
    if (stream.match(/^[a-z_][a-z0-9_]*/)) {
      const word = stream.current();
      const defining = state.defining;
      state.defining = null;
      if (defining) return "def";
      if (["rule", "segment", "group", "event", "action"].includes(word)) {
        state.defining = word;
        return "keyword";
      }
      if (KEYWORDS.has(word)) return "keyword";
      if (ATOMS.has(word)) return "atom";
      if (TYPES.has(word)) return "typeName";
      if (DAYS.has(word)) return "atom";
      if (FUNCTIONS.has(word) && stream.peek() === "(") return "function";
      if (stream.peek() === ":") return "propertyName";
      return "variableName";
    }
    stream.next();
    return null;
  },
  languageData: { commentTokens: { line: "#" }, closeBrackets: { brackets: ["(", "[", "{", "\""] } },
  tokenTable: { function: t.function(t.variableName), def: t.definition(t.variableName), brace: t.special(t.brace) },
});

export const rulesHighlight = syntaxHighlighting(HighlightStyle.define([
  { tag: t.keyword, color: "#7c3aed", fontWeight: "600" },
  { tag: t.comment, color: "#6b7280", fontStyle: "italic" },
  { tag: t.string, color: "#047857" },
  { tag: t.number, color: "#b45309" },
  { tag: t.atom, color: "#b45309" },
  { tag: t.typeName, color: "#0369a1" },
  { tag: t.operator, color: "#374151" },
  { tag: t.propertyName, color: "#1d4ed8" },
  { tag: t.definition(t.variableName), color: "#be123c", fontWeight: "600" },
  { tag: t.function(t.variableName), color: "#0e7490" },
  { tag: t.special(t.brace), color: "#047857", fontWeight: "700" },
]));
