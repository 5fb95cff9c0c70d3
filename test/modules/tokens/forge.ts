import { SignJWT, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import type { TestApp } from '../../helpers/app.js';

/** Re-signs claims with the app's real signing key: correctly signed, whatever the claims say. */
export async function signWithAppKey(ctx: TestApp, claims: JWTPayload, header: { typ?: string; kid?: string } = {}): Promise<string> {
  const key = ctx.services.keys.signingKey();
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, typ: header.typ ?? 'at+jwt', kid: header.kid ?? key.kid })
    .sign(key.privateKey!);
}

export function decode(token: string) {
  return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

export async function me(ctx: TestApp, token: string) {
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${token}` } });
  return { res, body: res.json() };
}

export async function refresh(ctx: TestApp, refreshToken: string, opts: { form?: boolean; remoteAddress?: string } = {}) {
  const res = opts.form
    ? await ctx.app.inject({
        method: 'POST',
        url: '/v1/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }).toString(),
      })
    : await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token: refreshToken } });
  return { res, body: res.json() };
}

/** Detached audit writes land just after the response; poll for one. */
export async function waitForAudit(ctx: TestApp, action: string, targetId: string) {
  for (let i = 0; i < 100; i++) {
    const row = await ctx.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', action)
      .where('target_id', '=', targetId)
      .executeTakeFirst();
    if (row) return row;
    await new Promise((r) => setTimeout(r, 20));
  }
  return undefined;
}
