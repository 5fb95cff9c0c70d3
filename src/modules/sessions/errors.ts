import { defineErrors } from '../../shared/errors.js';

export const sessionError = defineErrors({
  SESSION_NOT_FOUND: [404, 'Session not found'],
} as const);
