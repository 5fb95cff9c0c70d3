import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK, type KeyObject } from 'jose';
import type { Keyring } from '../../infra/keyring.js';
import type { Clock } from '../../infra/clock.js';
import type { SigningKeyStore } from './keys.store.js';
import type { Algorithm } from '../../sdk/index.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';

type Alg = Algorithm;
type Key = CryptoKey | KeyObject | Uint8Array;
type LoadedKey = { kid: string; alg: Alg; publicJwk: JWK; publicKey: Key; privateKey?: Key; retiredAt: Date | null };

/**
 * Signing keys live in Postgres with their private halves encrypted, so every instance signs
 * with the same key. A retired key stays in the JWKS until the last token it signed expires.
 */
export function createKeyService({
  store,
  keyring,
  clock,
  alg,
  accessTokenTtl,
  withTransaction,
}: {
  withTransaction: WithTransaction;
  store: SigningKeyStore;
  keyring: Keyring;
  clock: Clock;
  alg: Alg;
  accessTokenTtl: number;
}) {
  let keys: LoadedKey[] = [];
  let lastReload = 0;

  async function createKey() {
    const { publicKey, privateKey } = await generateKeyPair(alg, {
      extractable: true,
      ...(alg === 'RS256' ? { modulusLength: 2048 } : {}),
    });
    const kid = `${clock.now().toISOString().slice(0, 10)}-${randomBytes(6).toString('base64url')}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
    const privateJwk = await exportJWK(privateKey);
    return {
      kid,
      alg,
      public_jwk: JSON.stringify(publicJwk),
      private_enc: keyring.encrypt(JSON.stringify(privateJwk), `signing-key:${kid}`),
    };
  }

  async function reload() {
    lastReload = Date.now();
    const since = new Date(clock.now().getTime() - (accessTokenTtl + 60) * 1000);
    const rows = await store.listUsable(since);
    keys = await Promise.all(
      rows.map(async (row) => {
        const publicJwk = row.public_jwk as JWK;
        const loaded: LoadedKey = {
          kid: row.kid,
          alg: row.alg as Alg,
          publicJwk,
          publicKey: await importJWK(publicJwk, row.alg),
          retiredAt: row.retired_at,
        };
        if (!row.retired_at) {
          const privateJwk = JSON.parse(keyring.decryptString(row.private_enc, `signing-key:${row.kid}`)) as JWK;
          loaded.privateKey = await importJWK(privateJwk, row.alg);
        }
        return loaded;
      }),
    );
  }

  return {
    /** Creates the first key unless one exists (under a lock: instances starting together make one). */
    async init() {
      await withTransaction(async (tx) => {
        await store.lock(tx);
        if (!(await store.hasActive(tx))) await store.replaceActive(await createKey(), tx);
      });
      await reload();
    },
    async rotate() {
      await withTransaction(async (tx) => {
        await store.lock(tx);
        await store.replaceActive(await createKey(), tx);
      });
      await reload();
    },
    reload,
    signingKey(): LoadedKey {
      // Another instance or the CLI may have rotated: look again now and then, off the hot path.
      if (Date.now() - lastReload > 60_000) {
        lastReload = Date.now();
        reload().catch(() => undefined);
      }
      const key = keys.find((k) => !k.retiredAt && k.privateKey);
      if (!key) throw new Error('no signing key loaded');
      return key;
    },
    /** Unknown kid: another instance may have rotated; reload at most once a second. */
    async verificationKey(kid: string | undefined): Promise<LoadedKey | undefined> {
      const find = () => keys.find((k) => k.kid === kid);
      if (!kid) return undefined;
      if (!find() && Date.now() - lastReload > 1000) await reload();
      return find();
    },
    jwks() {
      return { keys: keys.map((k) => k.publicJwk) };
    },
    algorithms(): Alg[] {
      return [...new Set(keys.map((k) => k.alg))];
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
