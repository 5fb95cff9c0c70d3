import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { Logger } from '../../infra/logger.js';
import { auditRoutes } from './routes.js';
import { createAuditService } from './service.js';
import { createAuditStore } from './store.js';

export function createAuditModule({ db, clock, logger }: { db: Db; clock: Clock; logger: Logger }) {
  const service = createAuditService({ store: createAuditStore(db), clock, logger });
  return { service, routes: auditRoutes(service) };
}

export type { AuditService, AuditContext, AuditInput } from './service.js';
