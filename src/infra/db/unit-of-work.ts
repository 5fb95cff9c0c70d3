import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';
import type { Db } from './connect.js';

/** What a store runs its queries on: the pool, or the transaction a service handed it. */
export type Executor = Kysely<Database>;

/** A transaction that also collects what must happen only once it has committed. */
export type Tx = Transaction<Database> & {
  /**
   * Runs fn after COMMIT (never after a rollback): publishing revocations, sending mail,
   * writing detached audit events. Hooks run in order and are awaited; the first failure is
   * rethrown once every hook has had its turn.
   */
  afterCommit(fn: () => unknown): void;
};

export type WithTransaction = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

/** The unit of work: the one way services open a transaction. */
export function createUnitOfWork(db: Db): WithTransaction {
  return async (work) => {
    const hooks: Array<() => unknown> = [];
    const result = await db
      .transaction()
      .execute((trx) => work(Object.assign(trx, { afterCommit: (fn: () => unknown) => void hooks.push(fn) })));
    let failure: unknown;
    for (const hook of hooks) {
      try {
        await hook();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure) throw failure;
    return result;
  };
}
