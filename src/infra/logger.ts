import pino, { type Logger, type DestinationStream } from 'pino';

// Every place a secret can sit in a log line: request bodies are never logged, but services
// log objects, and headers carry bearer tokens and cookies.
export const REDACT_PATHS = [
  'password',
  'current_password',
  'new_password',
  'token',
  'code',
  'secret',
  'refresh_token',
  'access_token',
  'mfa_token',
  'subject_token',
  'device_token',
  '*.password',
  '*.current_password',
  '*.new_password',
  '*.token',
  '*.code',
  '*.secret',
  '*.refresh_token',
  '*.access_token',
  '*.mfa_token',
  '*.subject_token',
  '*.device_token',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
];

/** What Fastify hands the `req` serializer: its request, or a bare IncomingMessage. */
type LoggedRequest = {
  method?: string;
  url?: string;
  host?: string;
  ip?: string;
  socket?: { remoteAddress?: string; remotePort?: number } | null;
};

/**
 * A request as it appears in log lines (Fastify's "incoming request"): the path without its
 * query string, since links carry their secret there (`/verify-email?token=...`), and a URL is
 * the one thing about a request that is logged whole.
 */
export function serializeRequest(req: LoggedRequest) {
  const url = typeof req.url === 'string' ? req.url : '';
  const cut = url.search(/[?#]/);
  return {
    method: req.method,
    url: cut === -1 ? url : url.slice(0, cut),
    host: req.host,
    remoteAddress: req.ip ?? req.socket?.remoteAddress,
    remotePort: req.socket?.remotePort,
  };
}

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      serializers: { req: serializeRequest },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { service: 'tessera' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
