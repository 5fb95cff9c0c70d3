import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '../../src/infra/db/schema.js';
import type { Db } from '../../src/infra/db/connect.js';
import type { TestApp } from './app.js';
import type { Auth } from './orgs.js';

export const PAT_TOKEN_TYPE = 'urn:tessera:token-type:pat';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
/** A PAT in any text (logs, CLI output). */
export const PAT_PATTERN = /tsr_pat_[0-9A-Za-z]{49}/;

export type CreatedPat = {
  id: string;
  name: string;
  prefix: string;
  org_id: string;
  scopes: string[];
  created_at: string;
  expires_at: string;
  token: string;
};

/** POST /v1/me/tokens as the caller (their login is recent enough for step-up unless the clock moved on). */
export function createPatRequest(
  ctx: TestApp,
  auth: Auth,
  body: { org_id: string; scopes: string[]; name?: string; expires_in_days?: number },
) {
  return ctx.app.inject({
    method: 'POST',
    url: '/v1/me/tokens',
    headers: auth,
    payload: { name: body.name ?? 'ci deploy', expires_in_days: body.expires_in_days ?? 30, org_id: body.org_id, scopes: body.scopes },
  });
}

export async function createPat(ctx: TestApp, auth: Auth, body: Parameters<typeof createPatRequest>[2]): Promise<CreatedPat> {
  const res = await createPatRequest(ctx, auth, body);
  if (res.statusCode !== 201) throw new Error(`PAT creation failed: ${res.body}`);
  return res.json() as CreatedPat;
}

/** The token exchange at POST /v1/token, as JSON or as a form. */
export function exchange(ctx: TestApp, secret: string, options: { form?: boolean; tokenType?: string } = {}) {
  const body = { grant_type: TOKEN_EXCHANGE, subject_token: secret, subject_token_type: options.tokenType ?? PAT_TOKEN_TYPE };
  return options.form
    ? ctx.app.inject({
        method: 'POST',
        url: '/v1/token',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(body).toString(),
      })
    : ctx.app.inject({ method: 'POST', url: '/v1/token', payload: body });
}

/** Exchanges and returns the access token (throws on anything but 200). */
export async function exchanged(ctx: TestApp, secret: string): Promise<string> {
  const res = await exchange(ctx, secret);
  if (res.statusCode !== 200) throw new Error(`exchange failed: ${res.body}`);
  return (res.json() as { access_token: string }).access_token;
}

/** GET /v1/me with a token: the one Tessera route that takes an access token exchanged from a PAT. */
export function whoami(ctx: TestApp, accessToken: string) {
  return ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${accessToken}` } });
}

/** `Authorization: Basic` with the PAT as the password (RFC 7662 style). */
export const basic = (secret: string, user = 'svc') => ({ authorization: `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}` });

/**
 * A database handle on `url` that counts the connections its pool hands out (Kysely takes one per
 * statement outside a transaction): `queries()` is how many have been taken so far.
 */
export function countingDb(url: string): { db: Db; queries: () => number; close: () => Promise<void> } {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  pool.on('error', () => undefined);
  let count = 0;
  pool.on('acquire', () => {
    count++;
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return { db, queries: () => count, close: () => db.destroy() };
}

/** Makes an account an operator straight in the database (the CLI has its own test). */
export async function makeOperator(ctx: TestApp, userId: string, on = true) {
  await ctx.db.updateTable('users').set({ is_operator: on }).where('id', '=', userId).execute();
}
