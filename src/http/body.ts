import type { FastifyInstance } from 'fastify';
import { requestError } from '../shared/common-errors.js';

/** Deeper JSON than any Tessera body needs; parsing and validating more only costs (stack, CPU). */
export const MAX_JSON_DEPTH = 32;

/** Whether `text` nests arrays/objects deeper than `max`, judged before parsing (strings skipped). */
export function jsonTooDeep(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return false;
}

/**
 * JSON bodies: Fastify's own parser (secure-json-parse, refusing `__proto__` and
 * `constructor.prototype` keys), with a depth limit in front and a stable code for each refusal:
 * BODY_TOO_DEEP, BODY_FORBIDDEN_KEY (valid JSON, refused for a prototype-poisoning key) and
 * MALFORMED_BODY (not JSON, or empty). All are 400 problems, never a 500.
 */
export function registerJsonParser(app: FastifyInstance, maxDepth = MAX_JSON_DEPTH) {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonTooDeep(text, maxDepth)) {
      done(requestError('BODY_TOO_DEEP', `JSON nested deeper than ${maxDepth} levels is not accepted.`), undefined);
      return;
    }
    parse(request, text, (err, value) => {
      if (!err) return done(null, value);
      if (text.length > 0 && parsesAsPlainJson(text)) {
        done(requestError('BODY_FORBIDDEN_KEY', 'The body must not contain "__proto__" or "constructor.prototype" keys.'), undefined);
        return;
      }
      done(err, undefined);
    });
  });
}

function parsesAsPlainJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
