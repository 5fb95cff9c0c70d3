/** A rule a request broke; the handler turns it into problem+json with the catalogue's status. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }
}

export type ErrorCatalogue = Record<string, readonly [status: number, title: string]>;

/** Binds a module's catalogue so that only its codes can be thrown by name. */
export function errorFactory<C extends ErrorCatalogue>(catalogue: C) {
  return (
    code: keyof C & string,
    detail?: string,
    options: { extra?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ): AppError => {
    const [status, title] = catalogue[code];
    return new AppError(code, status, title, detail, options.extra, options.headers);
  };
}
