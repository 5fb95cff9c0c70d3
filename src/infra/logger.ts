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

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      base: { service: 'tessera' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

export type { Logger };
