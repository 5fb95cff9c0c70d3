import { defineErrors } from '../../shared/errors.js';

export const tokenError = defineErrors({
  INVALID_GRANT: [400, 'Invalid grant'],
  UNSUPPORTED_GRANT_TYPE: [400, 'Unsupported grant type'],
  // A requested scope beyond what the presented credential carries.
  INVALID_SCOPE: [400, 'Invalid scope'],
} as const);

/**
 * RFC 6749 §5.2: OAuth clients branch on `error`, so the token endpoint's problems carry it next
 * to Tessera's `code`. Codes not listed here are the client's request being malformed.
 */
const OAUTH_ERRORS: Record<string, string> = {
  INVALID_GRANT: 'invalid_grant',
  UNSUPPORTED_GRANT_TYPE: 'unsupported_grant_type',
  INVALID_SCOPE: 'invalid_scope',
};

export const oauthErrorFor = (code: string): string => OAUTH_ERRORS[code] ?? 'invalid_request';
