/**
 * The PAT scenarios' setup: members of the bench org log in to it and create personal access
 * tokens through the API (a fresh login is a recent authentication), one with `tokens:introspect`
 * for the introspection scenarios; and access tokens minted from them to introspect.
 */
import type { JsonClient } from './client.js';

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const PAT_TYPE = 'urn:tessera:token-type:pat';

/** One PAT per email, created by its owner for the org with these scopes. */
export async function createPats(
  client: JsonClient,
  emails: string[],
  password: string,
  orgId: string,
  scopes: string[],
): Promise<string[]> {
  const pats: string[] = [];
  for (const email of emails) {
    const login = await client.post('/v1/login', { email, password, org_id: orgId });
    if (login.status !== 200) throw new Error(`login of ${email} failed: ${login.status} ${JSON.stringify(login.body)}`);
    const created = await client.post(
      '/v1/me/tokens',
      { name: 'bench', org_id: orgId, scopes, expires_in_days: 1 },
      { authorization: `Bearer ${login.body.access_token}` },
    );
    if (created.status !== 201) throw new Error(`PAT for ${email} failed: ${created.status} ${JSON.stringify(created.body)}`);
    pats.push(created.body.token as string);
  }
  return pats;
}

export const exchangeBody = (pat: string) =>
  JSON.stringify({ grant_type: TOKEN_EXCHANGE, subject_token: pat, subject_token_type: PAT_TYPE });

/** Access tokens minted from the PATs, `count` in all (distinct: each exchange signs a new one). */
export async function mintedTokens(client: JsonClient, pats: string[], count: number): Promise<string[]> {
  const tokens: string[] = [];
  while (tokens.length < count) {
    const batch = await Promise.all(
      pats.map((pat) => client.post('/v1/token', { grant_type: TOKEN_EXCHANGE, subject_token: pat, subject_token_type: PAT_TYPE })),
    );
    for (const r of batch) {
      if (r.status !== 200) throw new Error(`exchange failed: ${r.status} ${JSON.stringify(r.body)}`);
      tokens.push(r.body.access_token as string);
    }
  }
  return tokens.slice(0, count);
}
