import { errorFactory } from '../../http/app-error.js';

export const tokenError = errorFactory({
  INVALID_TOKEN: [401, 'Invalid access token'],
  AUTHENTICATION_REQUIRED: [401, 'Authentication required'],
  SESSION_REVOKED: [401, 'Session revoked'],
  INVALID_GRANT: [400, 'Invalid grant'],
  UNSUPPORTED_GRANT_TYPE: [400, 'Unsupported grant type'],
  CSRF_TOKEN_INVALID: [403, 'CSRF token missing or invalid'],
} as const);
