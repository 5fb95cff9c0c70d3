import { defineErrors } from '../../shared/errors.js';

export const accountError = defineErrors({
  PASSWORD_TOO_SHORT: [422, 'Password too short'],
  PASSWORD_TOO_LONG: [422, 'Password too long'],
  PASSWORD_TOO_COMMON: [422, 'Password too common'],
  PASSWORD_CONTAINS_EMAIL: [422, 'Password contains the email address'],
  INVALID_PASSWORD: [403, 'Password incorrect'],
  PASSWORD_ATTEMPTS_THROTTLED: [429, 'Too many wrong passwords'],
  INVALID_EMAIL_TOKEN: [400, 'Invalid or expired link'],
  USER_NOT_FOUND: [404, 'User not found'],
} as const);
