import client from 'prom-client';
import type { FastifyInstance } from 'fastify';

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
