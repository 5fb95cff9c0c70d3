import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Clock } from '../../infra/clock.js';

export const REVOCATIONS_CHANNEL = 'tessera:revocations';
const markKey = (sid: string) => `tessera:{rev}:sid:${sid}`;
const memberKey = (orgId: string, userId: string) => `tessera:{rev}:onb:${orgId}:${userId}`;

/** A revoked session and until when its revocation matters. */
export type SessionMark = { sid: string; until: Date };

/** A member's roles in an org changed: their access tokens for it issued before `at` (a whole second, see nextNotBefore) are refused, until `until`. */
export type MemberMark = { orgId: string; userId: string; at: Date; until: Date };

/**
 * A member's roles version, in whole seconds: the first second after both the change and their
 * previous version (a change at 10.4 s is version 11; a second change within that second is 12).
 * Access tokens for the org carry the version they were built from (`rv`); a change publishes the
 * new one as the member's "not before", and tokens with an older version are refused.
 */
export function nextNotBefore(now: Date, previous?: Date | null): Date {
  // Tokens issued so far have iat <= max(now's second, the previous not-before rounded up).
  const seconds = Math.max(Math.floor(now.getTime() / 1000), previous ? Math.ceil(previous.getTime() / 1000) : 0);
  return new Date((seconds + 1) * 1000);
}

/** A not-before in the seconds of `iat` (a join's fractional time rounds up). */
export const notBeforeSeconds = (at: Date) => Math.ceil(at.getTime() / 1000);

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
  liveSessionRevocations: (now: Date) => Promise<
    Array<{
      kind: string;
      session_id: string | null;
      pat_id: string | null;
      org_id: string | null;
      user_id: string | null;
      not_before: Date | null;
      expires_at: Date;
    }>
  >;
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

  /** `type` 'pat': the sids are personal access tokens' ids (the sid of the access tokens exchanged from them). */
  async function mark(marks: SessionMark[], type: 'session' | 'pat' = 'session') {
    await setMarks(marks);
    await Promise.all(
      marks.map((m) =>
        kv.publish(
          REVOCATIONS_CHANNEL,
          JSON.stringify({ type, sid: m.sid, ...(type === 'pat' ? { pat_id: m.sid } : {}), at: clock.nowSeconds() }),
        ),
      ),
    );
  }

  async function setMemberMarks(marks: MemberMark[]) {
    await Promise.all(
      marks.map((m) => {
        const ttl = secondsUntil(m.until);
        return ttl > 0 ? kv.set(memberKey(m.orgId, m.userId), String(notBeforeSeconds(m.at)), ttl) : undefined;
      }),
    );
  }

  async function reload() {
    const rows = await liveSessionRevocations(clock.now());
    // A personal access token's mark is its id: the access tokens exchanged from it carry it as their sid.
    await setMarks(
      rows.flatMap((r) => {
        const sid = r.kind === 'session' ? r.session_id : r.kind === 'pat' ? r.pat_id : null;
        return sid ? [{ sid, until: r.expires_at }] : [];
      }),
    );
    // Oldest first: the newest change of a member is the mark that stays.
    const members = rows
      .flatMap((r) =>
        r.kind === 'org_member_not_before' && r.org_id && r.user_id && r.not_before
          ? [{ orgId: r.org_id, userId: r.user_id, at: r.not_before, until: r.expires_at }]
          : [],
      )
      .sort((a, b) => a.at.getTime() - b.at.getTime());
    for (const m of members) await setMemberMarks([m]);
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
    async markMembers(marks: MemberMark[]) {
      await setMemberMarks(marks);
      await Promise.all(
        marks.map((m) =>
          kv.publish(
            REVOCATIONS_CHANNEL,
            JSON.stringify({ type: 'org_member', org_id: m.orgId, user_id: m.userId, not_before: notBeforeSeconds(m.at) }),
          ),
        ),
      );
    },
    /** The member's not-before in the org (seconds), or null when no change of theirs still matters. */
    async memberNotBefore(orgId: string, userId: string): Promise<number | null> {
      const value = await kv.get(memberKey(orgId, userId));
      return value === null ? null : Number(value);
    },
    /** Reload whenever the KV connection comes back: marks written while it was away may be missing. */
    watchReconnects() {
      kv.onReconnect(() => {
        reload().catch((err: Error) => logger.error({ err: err.message }, 'revocation reload failed'));
      });
    },
  };
}

export type Revocations = ReturnType<typeof createRevocations>;
