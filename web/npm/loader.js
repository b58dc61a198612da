// BundleSource: fetches a rule bundle, keeps the last good one, and refreshes it.
//
// Why a loader: every page, server and worker that evaluates rules needs the bundle, and the
// marketers publish new ones. Refreshing is a conditional request (If-None-Match with the
// ETag, or If-Modified-Since), so an unchanged bundle costs a 304 and no parsing; a new one is
// loaded into an engine before it is adopted, so a truncated or foreign file never replaces a
// working bundle; a network failure keeps the last good copy. Where the platform has the Cache
// API (browsers, Cloudflare workers) the bundle is also kept there, so the next page load starts
// from it when the network is slow or down.
import { Engine } from "./omnirule.js";

export class BundleSource {
  /**
   * @param {string | URL} url where the bundle is published
   * @param {{ refreshMs?: number, fetch?: typeof fetch, cacheName?: string | null,
   *   onUpdate?: (bytes: Uint8Array) => void, onError?: (error: Error) => void }} [options]
   */
  constructor(url, options = {}) {
    this.url = String(url);
    this.refreshMs = options.refreshMs ?? 300000;
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.cacheName = options.cacheName === undefined ? "omnirule-bundles" : options.cacheName;
    this.onUpdate = options.onUpdate ?? (() => {});
    this.onError = options.onError ?? (() => {});
    /** The bundle in use (`null` before the first load). */
    this.bytes = null;
    this.etag = null;
    this.lastModified = null;
    this.timer = null;
  }

  /** The bundle: from the network, else from the cache; throws when neither has one. */
  async load() {
    await this.refresh();
    if (this.bytes === null) {
      const cached = await this.#fromCache();
      if (cached) this.#adopt(cached.bytes, cached.etag, cached.lastModified);
    }
    if (this.bytes === null) throw new Error(`omnirule: no bundle could be loaded from ${this.url}`);
    return this.bytes;
  }

  /** Asks the server for a newer bundle; resolves to whether the bundle changed. Never throws:
   * a failure is reported to `onError` and the bundle in use is kept. */
  async refresh() {
    try {
      const headers = {};
      if (this.etag) headers["if-none-match"] = this.etag;
      else if (this.lastModified) headers["if-modified-since"] = this.lastModified;
      const res = await this.fetch(this.url, { headers, cache: "no-cache" });
      if (res.status === 304) return false;
      if (!res.ok) throw new Error(`omnirule: ${this.url} answered ${res.status}`);
      const bytes = new Uint8Array(await res.arrayBuffer());
      // Adopted only if it loads: a broken publish must not replace a working bundle.
      Engine.fromBundle(bytes, { storage: false }).free();
      const changed = !this.bytes || !sameBytes(this.bytes, bytes);
      this.#adopt(bytes, res.headers.get("etag"), res.headers.get("last-modified"));
      await this.#toCache(res.headers);
      if (changed) this.onUpdate(bytes);
      return changed;
    } catch (e) {
      this.onError(e instanceof Error ? e : new Error(String(e)));
      return false;
    }
  }

  /** Refreshes every `refreshMs` until `stop()`. */
  start() {
    this.stop();
    this.timer = setInterval(() => this.refresh(), this.refreshMs);
    // In Node, do not keep the process alive for the refreshes alone.
    this.timer.unref?.();
    return this;
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  #adopt(bytes, etag, lastModified) {
    this.bytes = bytes;
    this.etag = etag;
    this.lastModified = lastModified;
  }

  async #cache() {
    if (!this.cacheName || typeof caches === "undefined") return null;
    try {
      return await caches.open(this.cacheName);
    } catch {
      return null;
    }
  }

  async #toCache(headers) {
    const cache = await this.#cache();
    if (!cache) return;
    const kept = new Headers();
    for (const h of ["etag", "last-modified"]) if (headers.get(h)) kept.set(h, headers.get(h));
    await cache.put(this.url, new Response(this.bytes, { headers: kept })).catch(() => {});
  }

  async #fromCache() {
    const cache = await this.#cache();
    const hit = cache && (await cache.match(this.url).catch(() => undefined));
    if (!hit) return null;
    return {
      bytes: new Uint8Array(await hit.arrayBuffer()),
      etag: hit.headers.get("etag"),
      lastModified: hit.headers.get("last-modified"),
    };
  }
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
