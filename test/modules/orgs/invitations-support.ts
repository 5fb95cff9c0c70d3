import { eventually } from '../../helpers/eventually.js';
import type { TestApp } from '../../helpers/app.js';
import type { Auth } from '../../helpers/orgs.js';

export function invite(ctx: TestApp, auth: Auth, orgId: string, payload: Record<string, unknown>) {
  return ctx.app.inject({ method: 'POST', url: `/v1/orgs/${orgId}/invitations`, headers: auth, payload });
}

export function listInvitations(ctx: TestApp, auth: Auth, orgId: string) {
  return ctx.app.inject({ method: 'GET', url: `/v1/orgs/${orgId}/invitations`, headers: auth });
}

export function resend(ctx: TestApp, auth: Auth, orgId: string, id: string) {
  return ctx.app.inject({ method: 'POST', url: `/v1/orgs/${orgId}/invitations/${id}/resend`, headers: auth });
}

export function revoke(ctx: TestApp, auth: Auth, orgId: string, id: string) {
  return ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${orgId}/invitations/${id}`, headers: auth });
}

export function preview(ctx: TestApp, token: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/invitations/preview', payload: { token } });
}

export function accept(ctx: TestApp, payload: Record<string, unknown>, headers: Record<string, string> = {}) {
  return ctx.app.inject({ method: 'POST', url: '/v1/invitations/accept', payload, headers });
}

/** The invitation mails sent to an address so far. */
export const invitationMails = (ctx: TestApp, email: string) =>
  ctx.mail.sent.filter((m) => m.to === email && m.text.includes('/accept-invitation?token='));

/**
 * The token of the invitation mail number `index` (0: the first) to the address, once it has
 * gone out (mail leaves after the commit, in the background).
 */
export async function invitationToken(ctx: TestApp, email: string, index = 0): Promise<string> {
  const mail = await eventually(() => invitationMails(ctx, email)[index], {
    timeoutMs: 2000,
    message: `no invitation mail #${index} for ${email}`,
  });
  return new URL(mail.text.match(/https?:\/\/\S+/)![0]).searchParams.get('token')!;
}

/** Sends an invitation through the API and returns its id and the emailed token. */
export async function invited(ctx: TestApp, auth: Auth, orgId: string, payload: { email: string; name?: string; roles: string[] }) {
  const before = invitationMails(ctx, payload.email).length;
  const res = await invite(ctx, auth, orgId, { name: 'Ivy Invitee', ...payload });
  if (res.statusCode !== 201) throw new Error(`invitation failed: ${res.body}`);
  return { id: res.json().id as string, token: await invitationToken(ctx, payload.email, before), view: res.json() };
}

export async function auditOf(ctx: TestApp, action: string, targetId?: string) {
  let q = ctx.db.selectFrom('audit_events').selectAll().where('action', '=', action);
  if (targetId) q = q.where('target_id', '=', targetId);
  return q.orderBy('seq').execute();
}
