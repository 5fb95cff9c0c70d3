import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK, type KeyObject } from 'jose';
import type { Keyring } from '../../infra/keyring.js';
import type { Clock } from '../../infra/clock.js';
import type { SigningKeyStore } from './keys.store.js';
import type { Algorithm } from '../../sdk/index.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';

type Alg = Algorithm;
type Key = CryptoKey | KeyObject | Uint8Array;
type LoadedKey = {
  kid: string;
  alg: Alg;
  publicJwk: JWK;
  publicKey: Key;
  privateKey?: Key;
  activatesAt: Date;
  retiredAt: Date | null;
};

/** What `/.well-known/jwks.json` lets verifiers cache it for (Cache-Control max-age and stale-while-revalidate). */
export const JWKS_MAX_AGE = 300;
export const JWKS_STALE_WHILE_REVALIDATE = 60;
/** Every instance re-reads the keys this often, so each publishes a new key within this time. */
export const KEY_RELOAD_INTERVAL_SECONDS = 60;
/**
 * A rotated-in key signs only this long after it was created: by then every instance publishes
 * it (reload interval) and every verifier's cached JWKS has expired and been refetched (max-age
 * plus stale-while-revalidate), with a minute to spare. So no verifier meets an unknown kid.
 */
export const KEY_ACTIVATION_DELAY_SECONDS = JWKS_MAX_AGE + JWKS_STALE_WHILE_REVALIDATE + KEY_RELOAD_INTERVAL_SECONDS + 60;

export type Rotation = { kid: string; activatesAt: Date; created: boolean };

/**
 * Signing keys live in Postgres with their private halves encrypted, so every instance signs
 * with the same key. A key is published (JWKS) from its creation, signs from `activates_at`, and
 * after its retirement stays published until the last token it signed expires.
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
  let timer: NodeJS.Timeout | undefined;

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
    const now = clock.now();
    const since = new Date(now.getTime() - (accessTokenTtl + 60) * 1000);
    const rows = await store.listUsable(since);
    keys = await Promise.all(
      rows.map(async (row) => {
        const publicJwk = row.public_jwk as JWK;
        const loaded: LoadedKey = {
          kid: row.kid,
          alg: row.alg as Alg,
          publicJwk,
          publicKey: await importJWK(publicJwk, row.alg),
          activatesAt: row.activates_at,
          retiredAt: row.retired_at,
        };
        // Pending keys too, so that every instance switches at activates_at without waiting for a reload.
        if (!row.retired_at || row.retired_at > now) {
          const privateJwk = JSON.parse(keyring.decryptString(row.private_enc, `signing-key:${row.kid}`)) as JWK;
          loaded.privateKey = await importJWK(privateJwk, row.alg);
        }
        return loaded;
      }),
    );
  }

  /**
   * A new key. Scheduled (the default): published now, signing from KEY_ACTIVATION_DELAY_SECONDS
   * on, when the current key stops; while one is pending, rotating again returns it. `now`: the
   * emergency switch for a compromised key, signing at once (verifiers holding a cached JWKS
   * refetch it when they meet the unknown kid, if they do so at all).
   */
  async function rotate(options: { now?: boolean } = {}): Promise<Rotation> {
    const rotation = await withTransaction(async (tx) => {
      await store.lock(tx);
      const now = clock.now();
      const unretired = await store.unretired(now, tx);
      const pending = unretired.find((k) => k.activates_at > now);
      if (pending && !options.now) return { kid: pending.kid, activatesAt: pending.activates_at, created: false };
      // With no key signing yet there is nothing to announce the new one before.
      const signing = unretired.some((k) => k.activates_at <= now);
      const activatesAt = options.now || !signing ? now : new Date(now.getTime() + KEY_ACTIVATION_DELAY_SECONDS * 1000);
      const key = await createKey();
      await store.schedule(key, activatesAt, tx);
      return { kid: key.kid, activatesAt, created: true };
    });
    await reload();
    return rotation;
  }

  return {
    /**
     * Creates the first key unless one exists (under a lock: instances starting together make
     * one), loads the keys, and reloads them every KEY_RELOAD_INTERVAL_SECONDS (until stop()).
     */
    async init() {
      await withTransaction(async (tx) => {
        await store.lock(tx);
        const now = clock.now();
        if ((await store.unretired(now, tx)).length === 0) await store.schedule(await createKey(), now, tx);
      });
      await reload();
      timer ??= setInterval(() => void reload().catch(() => undefined), KEY_RELOAD_INTERVAL_SECONDS * 1000);
      timer.unref();
    },
    stop() {
      clearInterval(timer);
      timer = undefined;
    },
    rotate,
    reload,
    /** The newest key whose activation has come and whose retirement has not. */
    signingKey(): LoadedKey {
      const now = clock.now().getTime();
      const key = keys.find((k) => k.privateKey && k.activatesAt.getTime() <= now && (!k.retiredAt || k.retiredAt.getTime() > now));
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
    /** Pending, signing and recently retired keys: a verifier knows a key before it signs. */
    jwks() {
      return { keys: keys.map((k) => k.publicJwk) };
    },
    algorithms(): Alg[] {
      return [...new Set(keys.map((k) => k.alg))];
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;
