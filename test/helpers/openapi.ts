import type { TesseraApp } from '../../src/app.js';

type Responses = Record<string, { content?: Record<string, { schema: { properties?: { code?: { enum?: string[] } } } }> }>;

/** Every documented response of the app, with the error codes its problem schema lists (undefined when none). */
export function documentedResponses(app: TesseraApp) {
  const doc = app.swagger() as unknown as { paths: Record<string, Record<string, { responses: Responses }>> };
  const out: Array<{ path: string; method: string; status: number; codes: string[] | undefined }> = [];
  for (const [path, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const codes = Object.values(response.content ?? {})[0]?.schema.properties?.code?.enum;
        out.push({ path, method: method.toUpperCase(), status: Number(status), codes });
      }
    }
  }
  return out;
}
