import { defineErrors } from '../../shared/errors.js';

export const loginError = defineErrors({
  INVALID_CREDENTIALS: [401, 'Invalid email or password'],
  ORG_ACCESS_DENIED: [403, 'Not a member of the organization'],
  LOGIN_THROTTLED: [429, 'Too many failed attempts'],
} as const);
