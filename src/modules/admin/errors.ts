import { defineErrors } from '../../shared/errors.js';

/** The operator routes' codes (they mean what they mean in accounts and orgs). */
export const adminError = defineErrors({
  USER_NOT_FOUND: [404, 'User not found'],
  ORG_NOT_FOUND: [404, 'Organization not found'],
} as const);
