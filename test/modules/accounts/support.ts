import type { TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';

/** Shared checks for the accounts tests (not a test file: it has no `.test.ts` suffix). */

export async function countUsers(ctx: TestApp): Promise<number> {
  const row = await ctx.db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export function userByEmail(ctx: TestApp, email: string) {
  return ctx.db.selectFrom('users').selectAll().where('email_normalized', '=', email.trim().toLowerCase()).executeTakeFirst();
}

export async function mailsTo(ctx: TestApp, email: string, settleMs = 50) {
  // Mail goes out after the response; give a stray one the time to arrive before asserting absence.
  await new Promise((r) => setTimeout(r, settleMs));
  return ctx.mail.sent.filter((m) => m.to.toLowerCase() === email.toLowerCase());
}

/** Mail goes out after the response: the newest one to `email` whose subject matches. */
export function waitForMail(ctx: TestApp, email: string, subject: RegExp) {
  return eventually(() => [...ctx.mail.sent].reverse().find((m) => m.to.toLowerCase() === email.toLowerCase() && subject.test(m.subject)), {
    timeoutMs: 2000,
    message: `no mail matching ${subject} for ${email}`,
  });
}

export function linkIn(text: string): URL {
  const m = text.match(/https?:\/\/\S+/);
  if (!m) throw new Error(`no link in mail: ${text}`);
  return new URL(m[0]);
}
