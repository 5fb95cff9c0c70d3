import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Clock } from '../../infra/clock.js';

export const REVOCATIONS_CHANNEL = 'tessera:revocations';
const markKey = (sid: string) => `tessera:{rev}:sid:${sid}`;

/** A revoked session and until when its revocation matters. */
export type SessionMark = { sid: string; until: Date };

/**
 * Postgres records a revocation (the revocations table, which outlives the sessions it revokes);
 * this makes it visible at once to every instance and verifier: a mark in the KV store that lives
 * until the last access token of the session could expire, and a message on the revocations
 * channel.
 */
export function createRevocations({
  kv,
  clock,
  logger,
  accessTokenTtl,
  liveSessionRevocations,
}: {
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  accessTokenTtl: number;
  liveSessionRevocations: (now: Date) => Promise<Array<{ session_id: string | null; expires_at: Date }>>;
}) {
  const secondsUntil = (until: Date) => Math.ceil((until.getTime() - clock.now().getTime()) / 1000);

  async function setMarks(marks: SessionMark[]) {
    await Promise.all(
      marks.map((m) => {
        const ttl = secondsUntil(m.until);
        return ttl > 0 ? kv.set(markKey(m.sid), '1', ttl) : undefined;
      }),
    );
  }

  async function mark(marks: SessionMark[]) {
    await setMarks(marks);
    await Promise.all(
      marks.map((m) => kv.publish(REVOCATIONS_CHANNEL, JSON.stringify({ type: 'session', sid: m.sid, at: clock.nowSeconds() }))),
    );
  }

  async function reload() {
    const rows = await liveSessionRevocations(clock.now());
    await setMarks(rows.flatMap((r) => (r.session_id ? [{ sid: r.session_id, until: r.expires_at }] : [])));
    logger.debug({ count: rows.length }, 'revocation marks reloaded from Postgres');
  }

  return {
    /**
     * How long after a revocation some access token of the session may still be presented: the
     * longest access token, plus 60 s for clock skew between instances and the verifier's tolerance.
     */
    horizonSeconds: accessTokenTtl + 60,
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
