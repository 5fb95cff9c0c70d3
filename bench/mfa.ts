/**
 * The MFA scenarios' setup: users with a confirmed authenticator app, and logins parked at the
 * second step. Step 1 (the password, bound by argon2) is what the login scenario measures; here
 * the parked logins are opened with the server's own code (createLoginAttempts on the same
 * Redis), so step 2 can be driven far beyond the rate step 1 could feed it.
 */
import { randomUUID } from 'node:crypto';
import { generateSecret, generateSync } from 'otplib';
import type { Db } from '../src/infra/db/connect.js';
import { createKeyring } from '../src/infra/keyring.js';
import { createRedisKv } from '../src/infra/kv/redis.js';
import { createLoginAttempts } from '../src/modules/mfa/login-attempts.js';
import { createCredentialMarks, passwordFingerprint } from '../src/modules/mfa/credential-marks.js';

export type ParkedLogin = { mfaToken: string; secret: string };

/**
 * `count` users, each with a confirmed TOTP factor sealed as the server seals it, each with one
 * parked login. One login per user: a time step is accepted once per user, so a user can
 * complete one login per 30 s window, and the bench must not measure its own replays.
 */
export async function parkedTotpLogins(opts: {
  db: Db;
  redisUrl: string;
  keyringSpec: string;
  passwordHash: string;
  count: number;
}): Promise<ParkedLogin[]> {
  const keyring = createKeyring(opts.keyringSpec);
  const now = new Date();
  const users = Array.from({ length: opts.count }, (_, i) => {
    const email = `bench-totp-${i}@bench.tessera.test`;
    const factorId = randomUUID();
    const secret = generateSecret();
    return { id: randomUUID(), factorId, email, secret, secretEnc: keyring.encrypt(secret, `mfa_factor:${factorId}`) };
  });
  for (let i = 0; i < users.length; i += 1000) {
    const chunk = users.slice(i, i + 1000);
    await opts.db
      .insertInto('users')
      .values(
        chunk.map((u) => ({
          id: u.id,
          email: u.email,
          email_normalized: u.email,
          email_verified_at: now,
          password_hash: opts.passwordHash,
          name: 'Bench TOTP',
          mfa_enabled: true,
        })),
      )
      .execute();
    await opts.db
      .insertInto('mfa_factors')
      .values(
        chunk.map((u) => ({
          id: u.factorId,
          user_id: u.id,
          kind: 'totp' as const,
          name: 'Authenticator app',
          secret_enc: u.secretEnc,
          confirmed_at: now,
        })),
      )
      .execute();
  }
  const kv = await createRedisKv(opts.redisUrl);
  try {
    const attempts = createLoginAttempts(kv);
    // What the first step records: the fingerprint of the hash the password was checked against,
    // in the login and (once per account) as the account's credential mark.
    const fingerprint = passwordFingerprint(opts.passwordHash);
    const marks = createCredentialMarks(kv);
    for (let i = 0; i < users.length; i += 500) await Promise.all(users.slice(i, i + 500).map((u) => marks.note(u.id, fingerprint)));
    const parked: ParkedLogin[] = [];
    for (let i = 0; i < users.length; i += 500) {
      const chunk = users.slice(i, i + 500);
      const tokens = await Promise.all(
        chunk.map((u) =>
          attempts.open(
            {
              userId: u.id,
              orgId: null,
              mode: 'token',
              amr: ['pwd'],
              purpose: 'mfa',
              methods: ['totp', 'backup_code'],
              credential: fingerprint,
              // What the TOTP factor's carry() puts in a parked login at the first step.
              carried: { totp: { id: u.factorId, secret_enc: u.secretEnc, last_used_step: null } },
            },
            now,
          ),
        ),
      );
      chunk.forEach((u, j) => parked.push({ mfaToken: tokens[j], secret: u.secret }));
    }
    return parked;
  } finally {
    await kv.close();
  }
}

/** The body of one second step: the code is computed when the request is sent, as a person would read it off the app. */
export function totpStepBody(login: ParkedLogin): string {
  return JSON.stringify({ mfa_token: login.mfaToken, method: 'totp', code: generateSync({ secret: login.secret }) });
}
