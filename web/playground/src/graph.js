// The rule graph drawn as SVG from the compiler's drawing (`compile(text, { outline: true
// }).graph`): one column per kind of node (events, remembered history, segments, rules,
// actions), edges as curves; rules and segments link back to their source.
const COLUMNS = { event: 0, query: 1, segment: 2, rule: 3, action: 4 };
const FILL = { event: "#dbeafe", query: "#fef3c7", segment: "#dcfce7", rule: "#e5e7eb", action: "#fce7f3" };
const WIDTH = 170;
const GAP_X = 46;
const LINE = 14;
const PAD = 6;

const el = (name, attrs = {}, text) => {
  const e = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
};

/** Draws `drawing` into `container`; `onSource(line)` is called when a node with a source is clicked. */
export function drawGraph(container, drawing, onSource) {
  container.replaceChildren();
  if (!drawing) return;
  const cols = [[], [], [], [], []];
  for (const n of drawing.nodes) cols[COLUMNS[n.kind] ?? 3].push(n);
  // Events and actions that nothing touches are left out (a schema lists more than rules use).
  const touched = new Set(drawing.edges.flatMap((e) => [e.from, e.to]));
  const place = new Map();
  let height = 0;
  // Columns without a node (a rule set without segments) take no room.
  const used = cols
    .map((col) => col.filter((n) => !((n.kind === "event" || n.kind === "action") && !touched.has(n.id))))
    .filter((col) => col.length > 0);
  used.forEach((col, c) => {
    let y = 10;
    for (const n of col) {
      const lines = n.lines.map((l) => (l.length > 28 ? `${l.slice(0, 27)}…` : l));
      const h = lines.length * LINE + 2 * PAD;
      place.set(n.id, { x: 10 + c * (WIDTH + GAP_X), y, h, lines, node: n });
      y += h + 14;
    }
    height = Math.max(height, y);
  });
  const svg = el("svg", { width: 10 + used.length * (WIDTH + GAP_X), height, role: "img", "aria-label": "The rule graph" });
  const defs = el("defs");
  const marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse" });
  marker.append(el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7280" }));
  defs.append(marker);
  svg.append(defs);
  for (const e of drawing.edges) {
    const a = place.get(e.from);
    const b = place.get(e.to);
    if (!a || !b) continue;
    const goal = e.link === "goal";
    const [x1, y1] = goal ? [a.x, a.y + a.h / 2] : [a.x + WIDTH, a.y + a.h / 2];
    const [x2, y2] = goal ? [b.x + WIDTH, b.y + b.h / 2] : [b.x, b.y + b.h / 2];
    const dx = Math.max(40, Math.abs(x2 - x1) / 2) * (goal ? -1 : 1);
    const path = el("path", {
      d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`,
      fill: "none",
      stroke: goal ? "#059669" : "#9ca3af",
      "stroke-width": e.link === "on" ? 2 : 1,
      "stroke-dasharray": goal ? "3 3" : e.link === "remembered" ? "5 3" : "",
      "marker-end": "url(#arrow)",
    });
    if (e.label) path.append(el("title", {}, `${e.from} → ${e.to}: ${e.label}`));
    svg.append(path);
  }
  for (const { x, y, h, lines, node } of place.values()) {
    const g = el("g", { class: `node ${node.source ? "link" : ""}`, "data-id": node.id });
    g.append(el("rect", { x, y, width: WIDTH, height: h, rx: node.kind === "rule" ? 8 : 3, fill: FILL[node.kind], stroke: "#9ca3af" }));
    lines.forEach((l, i) => {
      g.append(el("text", { x: x + PAD, y: y + PAD + (i + 1) * LINE - 3, "font-weight": i === 0 ? 600 : 400 }, l));
    });
    g.append(el("title", {}, node.lines.join("\n")));
    if (node.source) g.addEventListener("click", () => onSource(node.source.line));
    svg.append(g);
  }
  container.append(svg);
}
