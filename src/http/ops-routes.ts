import { z } from 'zod';
import { sql } from 'kysely';
import type { App } from './types.js';
import type { Db } from '../infra/db/connect.js';
import type { KeyValueStore } from '../infra/kv/kv.js';
import { metricsRoute, type MetricsAccess, type Metrics } from './metrics.js';

export function opsRoutes(
  app: App,
  { db, kv, metrics, metricsAccess }: { db: Db; kv: KeyValueStore; metrics: Metrics; metricsAccess: MetricsAccess },
) {
  const tags = ['operations'];
  app.get('/healthz', { schema: { tags, response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  const check = z.object({
    status: z.enum(['ok', 'unavailable']),
    checks: z.object({ postgres: z.boolean(), kv: z.boolean(), kv_kind: z.string() }),
  });
  app.get('/readyz', { schema: { tags, response: { 200: check, 503: check } } }, async (_req, reply) => {
    const [postgres, kvOk] = await Promise.all([
      sql`select 1`.execute(db).then(
        () => true,
        () => false,
      ),
      kv.ping(),
    ]);
    const ok = postgres && kvOk;
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks: { postgres, kv: kvOk, kv_kind: kv.kind } });
  });

  // With a metrics port of its own, /metrics is served there only.
  if (metricsAccess.port === undefined) metricsRoute(app, metrics, metricsAccess.token);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
