/**
 * Passkey logins under load: each worker holds one platform authenticator (the software one the
 * tests use, test/helpers/soft-authenticator.ts) with a passkey registered through the API, and
 * logs in with it back to back: options, the assertion signed here, then POST /v1/login/passkey.
 * One authenticator per worker keeps each signature counter going up, as a real one would.
 */
import { createSoftAuthenticator, type SoftAuthenticator } from '../test/helpers/soft-authenticator.js';
import { summarize, type JsonClient } from './client.js';

type Options = Parameters<SoftAuthenticator['register']>[0];
type RequestOptions = Parameters<SoftAuthenticator['assert']>[0];

/** Logs each user in with the password and registers a passkey for them (the real ceremony). */
export async function registerPasskeys(client: JsonClient, emails: string[], password: string, origin: string) {
  const keys: SoftAuthenticator[] = [];
  for (const email of emails) {
    const login = await client.post('/v1/login', { email, password });
    if (login.status !== 200) throw new Error(`login of ${email} failed: ${login.status} ${JSON.stringify(login.body)}`);
    const auth = { authorization: `Bearer ${login.body.access_token}` };
    const options = await client.post('/v1/me/webauthn/registration/options', { passkey: true }, auth);
    if (options.status !== 200) throw new Error(`registration options failed: ${options.status} ${JSON.stringify(options.body)}`);
    const key = createSoftAuthenticator({ origin, attachment: 'platform' });
    const registered = await client.post(
      '/v1/me/webauthn/registration',
      { response: key.register(options.body.options as Options), name: 'bench passkey' },
      auth,
    );
    if (registered.status !== 200) throw new Error(`registration failed: ${registered.status} ${JSON.stringify(registered.body)}`);
    keys.push(key);
  }
  return keys;
}

/** Passwordless logins, each worker with its own authenticator, for `seconds`; latency is the whole login (both requests). */
export async function passkeyLoop(client: JsonClient, keys: SoftAuthenticator[], seconds: number) {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const started = performance.now();
  const end = started + seconds * 1000;
  const fail = (step: string, status: number, body: { code?: string } | null) => {
    const key = `${step} ${status} ${body?.code ?? ''}`.trim();
    failures[key] = (failures[key] ?? 0) + 1;
  };
  await Promise.all(
    keys.map(async (key) => {
      while (performance.now() < end) {
        const begun = performance.now();
        const options = await client.post('/v1/login/passkey/options', {});
        if (options.status !== 200) {
          fail('options', options.status, options.body);
          continue;
        }
        const response = key.assert(options.body.options as RequestOptions);
        const login = await client.post('/v1/login/passkey', { challenge_id: options.body.challenge_id, response });
        if (login.status === 200) latencies.push(performance.now() - begun);
        else fail('login', login.status, login.body);
      }
    }),
  );
  return summarize(latencies, failures, started);
}
