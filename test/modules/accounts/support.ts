import type { Test } from 'tap';
import type { LightMyRequestResponse } from 'fastify';
import type { TestApp } from '../../helpers/app.js';

/** Shared checks for the accounts tests (not a test file: it has no `.test.ts` suffix). */

export async function countUsers(ctx: TestApp): Promise<number> {
  const row = await ctx.db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export function userByEmail(ctx: TestApp, email: string) {
  return ctx.db.selectFrom('users').selectAll().where('email_normalized', '=', email.trim().toLowerCase()).executeTakeFirst();
}

/** An RFC 9457 answer with the given status and code, a request id, and nothing of the server's insides. */
export function assertProblem(t: Test, res: LightMyRequestResponse, status: number, code: string) {
  t.equal(res.statusCode, status, `status ${status} (${res.body.slice(0, 200)})`);
  t.match(res.headers['content-type'], /^application\/problem\+json/, 'problem+json content type');
  const body = res.json();
  t.equal(body.code, code, `code ${code}`);
  t.equal(body.status, status, 'status repeated in the body');
  t.type(body.type, 'string');
  t.type(body.title, 'string');
  t.type(body.detail, 'string');
  t.match(body.request_id, /^\S{8,}$/, 'carries a request id');
  t.equal(body.request_id, res.headers['x-request-id'], 'the request id is the one in the header');
  t.notOk(/at .*\.[cm]?[tj]s:\d+/.test(res.body) || (res.body.includes('at ') && res.body.includes('.ts:')), 'no stack trace');
  return body as { code: string; detail: string; request_id: string; errors?: Array<{ field: string; message: string }> };
}

export async function mailsTo(ctx: TestApp, email: string, settleMs = 50) {
  // Mail goes out after the response; give a stray one the time to arrive before asserting absence.
  await new Promise((r) => setTimeout(r, settleMs));
  return ctx.mail.sent.filter((m) => m.to.toLowerCase() === email.toLowerCase());
}

export async function waitForMail(ctx: TestApp, email: string, subject: RegExp) {
  for (let i = 0; i < 100; i++) {
    const mail = [...ctx.mail.sent].reverse().find((m) => m.to.toLowerCase() === email.toLowerCase() && subject.test(m.subject));
    if (mail) return mail;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no mail matching ${subject} for ${email}`);
}

export function linkIn(text: string): URL {
  const m = text.match(/https?:\/\/\S+/);
  if (!m) throw new Error(`no link in mail: ${text}`);
  return new URL(m[0]);
}
