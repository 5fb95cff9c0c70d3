import type { Test } from 'tap';

/** A response as fastify's inject() gives it. */
type InjectResponse = { statusCode: number; headers: Record<string, string | string[] | number | undefined>; body: string };
/** A response as test/e2e/process.ts's http() gives it (a real fetch). */
type HttpResponse = { status: number; headers: Headers; text: string };
export type ProblemResponse = InjectResponse | HttpResponse;

/** The RFC 9457 body every error answer carries (plus whatever fields its code adds). */
export type Problem = {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  request_id: string;
  errors?: Array<{ field: string; message: string }>;
  [extra: string]: unknown;
};

// A stack frame such as "at foo (/app/src/x.ts:12:3)" anywhere in the body.
const STACK_FRAME = /at .*\.[cm]?[tj]s:\d+/;

function parts(res: ProblemResponse) {
  if ('statusCode' in res) {
    const header = (name: string) => {
      const v = res.headers[name];
      return v === undefined ? undefined : String(v);
    };
    return { status: res.statusCode, text: res.body, header };
  }
  return { status: res.status, text: res.text, header: (name: string) => res.headers.get(name) ?? undefined };
}

/**
 * Asserts an RFC 9457 error answer: the HTTP status, the application/problem+json media type,
 * the body's `code`, `status` equal to the HTTP status, `type`/`title`/`detail` strings, a
 * `request_id` that is the X-Request-Id header's, and nothing of the server's insides (no
 * `stack` field, no stack frame in the text). `label`, if given, prefixes every assertion's
 * message. Returns the parsed body for further checks.
 */
export function assertProblem(t: Test, res: ProblemResponse, status: number, code: string, label?: string): Problem {
  const { status: actual, text, header } = parts(res);
  const m = (what: string) => (label ? `${label}: ${what}` : what);
  t.equal(actual, status, m(`status ${status} (${text.slice(0, 200)})`));
  t.equal(header('content-type')?.split(';')[0]?.trim().toLowerCase(), 'application/problem+json', m('problem+json content type'));
  let body: Problem;
  try {
    body = JSON.parse(text) as Problem;
  } catch {
    t.fail(m(`the body is JSON (${text.slice(0, 200)})`));
    body = {} as Problem;
  }
  t.equal(body.code, code, m(`code ${code}`));
  t.equal(body.status, status, m('status repeated in the body'));
  t.type(body.type, 'string', m('has a type'));
  t.type(body.title, 'string', m('has a title'));
  t.type(body.detail, 'string', m('has a detail'));
  t.match(body.request_id, /^\S{8,}$/, m('carries a request id'));
  t.equal(body.request_id, header('x-request-id'), m('the request id is the one in the header'));
  t.notOk('stack' in body, m('no stack field'));
  t.notOk(STACK_FRAME.test(text) || (text.includes('at ') && text.includes('.ts:')), m('no stack trace'));
  return body;
}
