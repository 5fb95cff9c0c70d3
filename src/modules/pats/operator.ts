import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import { ADMIN_SCOPE } from '../../http/service-credential.js';
import type { AuditService } from '../audit/index.js';
import { normalizeEmail } from '../accounts/normalize-email.js';
import { generatePat } from './format.js';
import { MAX_LIVE_PATS, MAX_PAT_DAYS } from './schemas.js';
import { createPatStore } from './store.js';

export class OperatorTokenError extends Error {}

/**
 * `tessera operator-token --email <e>` (database and keyring only): makes the account an operator
 * and returns a new operator token (no org, scope "admin"), whose secret is shown once. Audited
 * as pat.created with the account as actor.
 */
export async function issueOperatorToken(
  deps: { db: Db; withTransaction: WithTransaction; audit: AuditService; clock: Clock },
  input: { email: string; name?: string; days?: number },
) {
  const store = createPatStore(deps.db);
  const days = input.days ?? 90;
  if (!Number.isInteger(days) || days < 1 || days > MAX_PAT_DAYS) throw new OperatorTokenError(`--days must be 1-${MAX_PAT_DAYS}`);
  const name = (input.name ?? 'operator').trim();
  if (!name || name.length > 100) throw new OperatorTokenError('--name must be 1-100 characters');
  const now = deps.clock.now();
  const token = generatePat();
  const id = randomUUID();
  const expiresAt = new Date(now.getTime() + days * 86_400_000);
  const userId = await deps.withTransaction(async (tx) => {
    // The account row is locked by the update, as creation through the API locks it first.
    const userId = await store.markOperator(normalizeEmail(input.email), tx);
    if (!userId) throw new OperatorTokenError(`no account has the address ${input.email}`);
    if ((await store.countLive(userId, now, tx)) >= MAX_LIVE_PATS) {
      throw new OperatorTokenError(`the account already holds ${MAX_LIVE_PATS} live tokens: revoke one first`);
    }
    await store.insert(
      {
        id,
        user_id: userId,
        org_id: null,
        name,
        prefix: token.prefix,
        token_hash: token.hash,
        scopes: [ADMIN_SCOPE],
        created_at: now,
        expires_at: expiresAt,
      },
      tx,
    );
    await deps.audit.record(
      {
        action: 'pat.created',
        actorId: userId,
        targetType: 'pat',
        targetId: id,
        data: { name, prefix: token.prefix, scopes: [ADMIN_SCOPE], expires_at: expiresAt.toISOString(), operator: true, via: 'cli' },
      },
      tx,
    );
    return userId;
  });
  return { id, userId, prefix: token.prefix, expiresAt, token: token.secret };
}
