import type { TesseraApp } from './app.js';

/** The OpenAPI document as committed: stable key order and a trailing newline, so diffs are clean. */
export function openapiDocument(app: TesseraApp): string {
  return `${JSON.stringify(app.swagger(), null, 2)}\n`;
}
