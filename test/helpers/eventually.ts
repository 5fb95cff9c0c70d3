/**
 * Polling for things that happen after the response (mail sent in the background, a log line, a
 * process coming up or going away), in one place instead of a hand-written loop per test.
 */

export type EventuallyOptions = {
  /** Give up after this long (the first attempt is always made). Default 5000. */
  timeoutMs?: number;
  /** Pause between attempts. Default 10. */
  intervalMs?: number;
  /** What was awaited, for the timeout error; a function is called only when it times out. */
  message?: string | (() => string);
};

type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/** Thrown from the polled function to stop at once (the process died, say): eventually() rethrows it. */
export class StopPolling extends Error {}

/**
 * Calls fn until it returns a truthy value, and resolves with that value. A throw counts as
 * "not yet", except a StopPolling, which is rethrown at once. After timeoutMs it rejects
 * with `message`, carrying the last error thrown (if any) as the cause.
 */
export async function eventually<T>(fn: () => T | Promise<T>, options: EventuallyOptions = {}): Promise<Truthy<T>> {
  const { timeoutMs = 5000, intervalMs = 10, message = 'condition not met' } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as Truthy<T>;
      lastError = undefined;
    } catch (err) {
      if (err instanceof StopPolling) throw err;
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      const what = typeof message === 'function' ? message() : message;
      const last = lastError === undefined ? '' : `\nlast error: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      throw new Error(`gave up after ${timeoutMs} ms: ${what}${last}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, left)));
  }
}
