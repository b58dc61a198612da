/** Options of `new BundleSource(url, options)`. */
export interface BundleSourceOptions {
  /** How often `start()` refreshes (default 300000 ms). */
  refreshMs?: number;
  /** The fetch to use (default `globalThis.fetch`). */
  fetch?: typeof fetch;
  /** The Cache API cache the bundle is kept in where the platform has one (default
   * "omnirule-bundles"; `null`: none). */
  cacheName?: string | null;
  /** Called with a new bundle's bytes once it has loaded (not for an unchanged one). */
  onUpdate?: (bytes: Uint8Array) => void;
  /** Called when a refresh fails (network, status, a bundle that does not load). */
  onError?: (error: Error) => void;
}

/** Fetches a rule bundle, keeps the last good one, and refreshes it with conditional requests
 * (ETag, Last-Modified). */
export declare class BundleSource {
  constructor(url: string | URL, options?: BundleSourceOptions);
  /** The bundle in use (`null` before the first load). */
  readonly bytes: Uint8Array | null;
  readonly etag: string | null;
  /** The bundle: from the network, else from the cache; rejects when neither has one. */
  load(): Promise<Uint8Array>;
  /** Asks for a newer bundle; resolves to whether it changed. Never rejects. */
  refresh(): Promise<boolean>;
  /** Refreshes every `refreshMs` until `stop()`. */
  start(): this;
  stop(): void;
}
