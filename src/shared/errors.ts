/**
 * Errors as plain data: a stable code, the HTTP status it maps to, a title for humans and
 * optional data (extra body fields such as `retry_after`). No headers: the problem handler
 * derives those (Retry-After, WWW-Authenticate) from the error.
 */
export type ErrorData = Record<string, unknown>;

export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly data: ErrorData = {},
  ) {
    super(detail ?? title);
    this.name = 'AppError';
  }
}

export type ErrorCatalogue = Record<string, readonly [status: number, title: string]>;

// Every catalogue's codes, so a route can declare the codes it may answer by name alone.
const registry = new Map<string, { status: number; title: string }>();

/** Status and title of a code from any catalogue; throws for a code no catalogue defines. */
export function errorSpec(code: string): { status: number; title: string } {
  const spec = registry.get(code);
  if (!spec) throw new Error(`error code ${code} is in no catalogue`);
  return spec;
}

/**
 * A module's catalogue, e.g. `defineErrors({ SESSION_NOT_FOUND: [404, 'Session not found'] })`.
 * Returns a factory that throws only the catalogue's codes: `sessionError('SESSION_NOT_FOUND')`.
 * A code means one thing everywhere: defining it twice with another status is a startup error.
 */
export function defineErrors<const C extends ErrorCatalogue>(catalogue: C) {
  for (const [code, [status, title]] of Object.entries(catalogue)) {
    const known = registry.get(code);
    if (known && known.status !== status) throw new Error(`error code ${code} is defined with status ${known.status} and ${status}`);
    registry.set(code, { status, title });
  }
  const make = (code: keyof C & string, detail?: string, data?: ErrorData): AppError => {
    const [status, title] = catalogue[code];
    return new AppError(code, status, title, detail, data);
  };
  return Object.assign(make, { codes: Object.keys(catalogue) as Array<keyof C & string> });
}
