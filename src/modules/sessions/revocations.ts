import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Clock } from '../../infra/clock.js';

export const REVOCATIONS_CHANNEL = 'tessera:revocations';
const markKey = (sid: string) => `tessera:{rev}:sid:${sid}`;

/**
 * Postgres records a revocation; this makes it visible at once to every instance and verifier:
 * a mark in the KV store that lives as long as the longest access token of the session could,
 * and a message on the revocations channel.
 */
export function createRevocations({
  kv,
  clock,
  logger,
  accessTokenTtl,
  revokedSince,
}: {
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  accessTokenTtl: number;
  revokedSince: (since: Date) => Promise<Array<{ id: string; revoked_at: Date | null }>>;
}) {
  // Covers clock skew between instances and the verifier's own tolerance.
  const markTtl = accessTokenTtl + 60;

  async function mark(sids: string[]) {
    await Promise.all(sids.map((sid) => kv.set(markKey(sid), '1', markTtl)));
    await Promise.all(sids.map((sid) => kv.publish(REVOCATIONS_CHANNEL, JSON.stringify({ type: 'session', sid, at: clock.nowSeconds() }))));
  }

  async function reload() {
    const since = new Date(clock.now().getTime() - markTtl * 1000);
    const rows = await revokedSince(since);
    await Promise.all(
      rows.map((r) => {
        const left = markTtl - Math.floor((clock.now().getTime() - (r.revoked_at?.getTime() ?? 0)) / 1000);
        return left > 0 ? kv.set(markKey(r.id), '1', left) : undefined;
      }),
    );
    logger.debug({ count: rows.length }, 'revocation marks reloaded from Postgres');
  }

  return {
    mark,
    reload,
    isRevoked: (sid: string) => kv.exists(markKey(sid)),
    /** Reload whenever the KV connection comes back: marks written while it was away may be missing. */
    watchReconnects() {
      kv.onReconnect(() => {
        reload().catch((err: Error) => logger.error({ err: err.message }, 'revocation reload failed'));
      });
    },
  };
}

export type Revocations = ReturnType<typeof createRevocations>;
