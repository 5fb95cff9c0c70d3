import { randomUUID } from 'node:crypto';
import type { Executor } from '../../infra/db/unit-of-work.js';
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/logger.js';
import { sha256 } from '../../infra/random.js';
import { canonicalJson } from './canonical.js';
import type { AuditRow, AuditStore } from './store.js';

export type AuditContext = { ip?: string | null; userAgent?: string | null };

export type AuditInput = {
  action: string;
  actorId?: string | null;
  orgId?: string | null;
  targetType?: string;
  targetId?: string;
  data?: Record<string, unknown>;
  context?: AuditContext;
};

/** Must match the hash the store has Postgres compute on append. */
function chainHash(prev: Buffer, canonical: string): Buffer {
  return sha256(Buffer.concat([prev, Buffer.from(canonical, 'utf8')]));
}
const eventHash = (prev: Buffer, row: AuditRow) => chainHash(prev, canonicalJson(row));

// Detached events written per flush at most (one INSERT statement).
const MAX_BATCH = 500;

/**
 * Security events. They hold ids, never emails or names, so deleting an account leaves a
 * pseudonymous trail and the chain never needs editing.
 */
export function createAuditService({ store, clock, logger }: { store: AuditStore; clock: Clock; logger: Logger }) {
  const toRow = (input: AuditInput): AuditRow => ({
    id: randomUUID(),
    // Millisecond precision is what Postgres gives back, so verification rebuilds the same bytes.
    occurred_at: new Date(clock.now().getTime()),
    org_id: input.orgId ?? null,
    actor_id: input.actorId ?? null,
    action: input.action,
    target_type: input.targetType ?? null,
    target_id: input.targetId ?? null,
    ip: input.context?.ip ?? null,
    user_agent: input.context?.userAgent?.slice(0, 512) ?? null,
    data: input.data ?? {},
  });

  /**
   * Detached events, group-committed: while one flush is in flight the next events gather, and
   * go in the following flush. Under load many events share a commit; alone, an event waits for
   * nothing (the flush starts on the next tick).
   */
  let queue: Array<{ row: AuditRow; canonical: string }> = [];
  let flushing: Promise<void> | null = null;
  function flush(): Promise<void> {
    flushing ??= (async () => {
      await new Promise((r) => setImmediate(r));
      while (queue.length) {
        const batch = queue.slice(0, MAX_BATCH);
        queue = queue.slice(batch.length);
        await store
          .appendMany(batch, chainHash)
          .catch((err: Error) =>
            logger.error(
              { err: err.message, actions: [...new Set(batch.map((e) => e.row.action))], count: batch.length },
              'audit write failed',
            ),
          );
      }
      flushing = null;
    })();
    return flushing;
  }

  return {
    /** Inside the caller's transaction when given, so the event and the change commit together. */
    async record(input: AuditInput, trx?: Executor) {
      const row = toRow(input);
      await store.append(row, canonicalJson(row), trx);
    },
    /** For events after the fact (a failed login): never fails or delays the request that caused it. */
    recordDetached(input: AuditInput) {
      const row = toRow(input);
      queue.push({ row, canonical: canonicalJson(row) });
      void flush();
    },
    /** Waits until every detached event so far is written (shutdown, tests). */
    async drain() {
      while (flushing || queue.length) await flush();
    },
    /** The user's own trail, newest first, as the API shows it. */
    async listForActor(actorId: string, limit = 100) {
      const rows = await store.listForActor(actorId, limit);
      return rows.map((r) => ({
        id: r.id,
        occurred_at: r.occurred_at.toISOString(),
        action: r.action,
        target_type: r.target_type,
        target_id: r.target_id,
        ip: r.ip,
        user_agent: r.user_agent,
        data: r.data,
      }));
    },
    /** Recomputes the chain; the first broken link is where someone edited history. */
    async verifyChain(): Promise<{ ok: boolean; checked: number; broken_at?: string }> {
      let prev: Buffer = Buffer.alloc(32);
      let checked = 0;
      for await (const e of store.all()) {
        const row: AuditRow = {
          id: e.id,
          occurred_at: e.occurred_at,
          org_id: e.org_id,
          actor_id: e.actor_id,
          action: e.action,
          target_type: e.target_type,
          target_id: e.target_id,
          ip: e.ip,
          user_agent: e.user_agent,
          data: e.data,
        };
        if (!e.prev_hash.equals(prev) || !e.hash.equals(eventHash(prev, row))) {
          return { ok: false, checked, broken_at: e.id };
        }
        prev = e.hash;
        checked++;
      }
      return { ok: true, checked };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
