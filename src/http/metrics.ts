import client from 'prom-client';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../infra/random.js';
import { authError } from '../shared/common-errors.js';
import { registerProblemHandlers } from './problem.js';
import { registerResponseHeaders } from './response-headers.js';
import { serverTimeoutOptions, type Timeouts } from './server-options.js';

/** One registry per app, so tests that build several apps do not share counters. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'tessera_' });
  const requests = new client.Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const logins = new client.Counter({
    name: 'tessera_logins_total',
    help: 'Password logins by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  return {
    registry,
    logins,
    hook(app: FastifyInstance) {
      app.addHook('onResponse', async (request, reply) => {
        // The route pattern, never the raw URL: ids in paths would explode the label set.
        const route = request.routeOptions.url ?? 'unmatched';
        requests.inc({ method: request.method, route, status: String(reply.statusCode) });
        duration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

export type MetricsAccess = {
  /** Serve /metrics on a listener of its own (METRICS_PORT) and not on the API's port. */
  port?: number;
  host: string;
  /** When set, scrapers must send `Authorization: Bearer <token>`. */
  token?: string;
};

/** METRICS_TOKEN: compared in constant time; 401 with a Bearer challenge without it. */
function checkScraper(request: FastifyRequest, token: string | undefined) {
  if (!token) return;
  const header = request.headers.authorization;
  if (!header) throw authError('AUTHENTICATION_REQUIRED', 'Send the metrics token as "Authorization: Bearer <token>".');
  const match = /^Bearer\s+(\S+)$/i.exec(header);
  if (!match || !constantTimeEqual(match[1], token)) throw authError('INVALID_TOKEN', 'The metrics token is wrong.');
}

/** GET /metrics, the Prometheus text format. */
export function metricsRoute(app: FastifyInstance, metrics: Metrics, token: string | undefined) {
  app.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
    checkScraper(request, token);
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}

/**
 * The separate metrics listener (METRICS_PORT): /metrics and nothing else, bound to METRICS_HOST
 * (loopback by default), so scrapes need not pass the load balancer and the API port does not
 * show the service's insides.
 */
export async function createMetricsServer(metrics: Metrics, options: { token?: string; logger: FastifyBaseLogger; timeouts: Timeouts }) {
  const app = Fastify({
    loggerInstance: options.logger,
    disableRequestLogging: true,
    forceCloseConnections: true,
    ...serverTimeoutOptions(options.timeouts),
  });
  registerResponseHeaders(app);
  registerProblemHandlers(app, { strict: false });
  metricsRoute(app, metrics, options.token);
  await app.ready();
  return app;
}
