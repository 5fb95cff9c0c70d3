/**
 * Fast, expiring state shared by every instance: revocation marks, login throttles, one-time
 * markers. Redis in production; an in-process map when one instance is all there is.
 * Keys put the part that must co-locate in {braces} so they are Redis Cluster safe.
 */
export interface KeyValueStore {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | null>;
  /** ttlSeconds > 0 sets an expiry; otherwise the key lives until deleted. */
  set(key: string, value: string, ttlSeconds?: number): Promise<void>;
  /** Sets only if absent; true when this call set it. */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  del(key: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Increments and returns the new value; the expiry is set when the key is created. */
  incr(key: string, ttlSeconds: number): Promise<number>;
  /** Decrements an existing counter (never below zero, never creating it). */
  decr(key: string): Promise<void>;
  /** Remaining life in seconds; null when the key is absent or has no expiry. */
  ttl(key: string): Promise<number | null>;
  publish(channel: string, message: string): Promise<void>;
  /** Returns a function that stops delivering to this handler. */
  subscribe(channel: string, handler: (message: string) => void): Promise<() => Promise<void>>;
  /** Called after the connection comes back, so callers can reload what they may have missed. */
  onReconnect(handler: () => void): void;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
