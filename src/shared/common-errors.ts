import { defineErrors } from './errors.js';

/** Codes any route may answer, raised by the framework around the routes rather than by a service. */
export const requestError = defineErrors({
  VALIDATION_FAILED: [400, 'Invalid request'],
  MALFORMED_BODY: [400, 'Malformed body'],
  BODY_TOO_DEEP: [400, 'Body nested too deeply'],
  BODY_FORBIDDEN_KEY: [400, 'Forbidden key in body'],
  BAD_REQUEST: [400, 'Bad request'],
  ROUTE_NOT_FOUND: [404, 'Not found'],
  BODY_TOO_LARGE: [413, 'Body too large'],
  UNSUPPORTED_MEDIA_TYPE: [415, 'Unsupported media type'],
  RATE_LIMITED: [429, 'Too many requests'],
  INTERNAL: [500, 'Internal error'],
  UNDECLARED_ERROR: [500, 'Undeclared error'],
} as const);

/** The authenticator chain and the permission guard. */
export const authError = defineErrors({
  AUTHENTICATION_REQUIRED: [401, 'Authentication required'],
  INVALID_TOKEN: [401, 'Invalid access token'],
  SESSION_REVOKED: [401, 'Session revoked'],
  // The token's org roles changed since it was issued: refresh (the session is fine).
  TOKEN_STALE: [401, 'Access token out of date'],
  CSRF_TOKEN_INVALID: [403, 'CSRF token missing or invalid'],
  PERMISSION_DENIED: [403, 'Permission denied'],
  // Step-up: the route needs a recent authentication (aal2, or the password for users without a factor).
  REAUTHENTICATION_REQUIRED: [403, 'Recent authentication required'],
} as const);

/** Codes every route may answer without declaring them (they come from the framework). */
export const FRAMEWORK_CODES: ReadonlySet<string> = new Set(requestError.codes);

/**
 * What any route behind `authenticate` may answer: CSRF for cookie-authenticated unsafe requests,
 * and 429 from the per-org (or per-user) limit every authenticated request is counted against.
 */
export const AUTHENTICATED_ROUTE_CODES = [
  'AUTHENTICATION_REQUIRED',
  'INVALID_TOKEN',
  'SESSION_REVOKED',
  'TOKEN_STALE',
  'CSRF_TOKEN_INVALID',
  'RATE_LIMITED',
] as const;
