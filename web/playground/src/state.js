// The playground's state (rules, profile, timeline): kept in localStorage, and shared as a URL
// whose fragment holds it deflated (CompressionStream) and base64url-encoded, so a link
// carries everything and no server sees it.
const KEY = "omnirule-playground";

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

function toBase64Url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text) {
  const s = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export async function encodeState(state) {
  const json = new TextEncoder().encode(JSON.stringify(state));
  return toBase64Url(await pipe(json, new CompressionStream("deflate-raw")));
}

export async function decodeState(text) {
  const json = await pipe(fromBase64Url(text), new DecompressionStream("deflate-raw"));
  return JSON.parse(new TextDecoder().decode(json));
}

/** The state a shared link carries (`#s=...`), if any. */
export async function stateFromUrl() {
  const m = location.hash.match(/^#s=([A-Za-z0-9_-]+)$/);
  if (!m) return null;
  try {
    return await decodeState(m[1]);
  } catch {
    return null;
  }
}

export async function shareUrl(state) {
  return `${location.origin}${location.pathname}#s=${await encodeState(state)}`;
}

export function loadSaved() {
  try {
    const text = localStorage.getItem(KEY);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

export function save(state) {
  try {
    localStorage.setItem(KEY, JSON.stringify(state));
  } catch {
    // Storage full or disabled: the page still works, it just forgets on reload.
  }
}
