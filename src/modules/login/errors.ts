import { defineErrors } from '../../shared/errors.js';

export const loginError = defineErrors({
  INVALID_CREDENTIALS: [401, 'Invalid email or password'],
  LOGIN_THROTTLED: [429, 'Too many failed attempts'],
} as const);
