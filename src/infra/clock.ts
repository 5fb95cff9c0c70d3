/** Time as the services see it; tests move it instead of sleeping. */
export interface Clock {
  now(): Date;
  /** Unix seconds. */
  nowSeconds(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  nowSeconds: () => Math.floor(Date.now() / 1000),
};

export function offsetClock(offsetMs = 0): Clock & { advance(ms: number): void } {
  let offset = offsetMs;
  return {
    now: () => new Date(Date.now() + offset),
    nowSeconds: () => Math.floor((Date.now() + offset) / 1000),
    advance(ms: number) {
      offset += ms;
    },
  };
}
