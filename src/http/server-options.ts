import type { Server } from 'node:http';
import type { FastifyHttpOptions } from 'fastify';

export type Timeouts = {
  /** The whole request, headers and body, must have arrived within this (node's requestTimeout). */
  requestMs: number;
  /** The request's headers must have arrived within this (node's headersTimeout). */
  headersMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
  /** A connection on which nothing moves for this long is closed (socket timeout). */
  connectionMs: number;
};

/**
 * Timeouts against slow clients (slowloris: headers or a body trickled in, or never finished),
 * for every listener Tessera opens. Node checks the request and headers timeouts on a timer
 * (30 s by default), so the check runs often enough for them to mean what they say.
 */
export function serverTimeoutOptions(
  t: Timeouts,
): Pick<FastifyHttpOptions<Server>, 'connectionTimeout' | 'keepAliveTimeout' | 'requestTimeout' | 'http'> {
  const checkEvery = Math.max(100, Math.min(1000, Math.floor(Math.min(t.headersMs, t.requestMs) / 2)));
  return {
    connectionTimeout: t.connectionMs,
    keepAliveTimeout: t.keepAliveMs,
    requestTimeout: t.requestMs,
    // Handed to http.createServer: node validates headersTimeout <= requestTimeout there.
    http: { headersTimeout: t.headersMs, requestTimeout: t.requestMs, connectionsCheckingInterval: checkEvery },
  };
}
