import { defineErrors } from '../../shared/errors.js';

export const sessionError = defineErrors({
  SESSION_NOT_FOUND: [404, 'Session not found'],
  // The same code as accounts' (it means one thing everywhere): sessions cannot import accounts.
  USER_NOT_FOUND: [404, 'User not found'],
} as const);
