/** Where a request came from, as services see it: plain data, no HTTP types. */
export type RequestContext = { ip: string; userAgent: string | null };
