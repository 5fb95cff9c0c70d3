import { defineErrors } from '../../shared/errors.js';

/** The personal access tokens module's codes (the org ones mean what they mean in the orgs module). */
export const patError = defineErrors({
  PAT_NOT_FOUND: [404, 'Personal access token not found'],
  // The same code as accounts' (it means one thing everywhere).
  USER_NOT_FOUND: [404, 'User not found'],
  // At most 50 live (unrevoked, unexpired) tokens per account.
  PAT_LIMIT_REACHED: [409, 'Too many personal access tokens'],
  // Not a member of the org the token would be for (the org is not shown to exist).
  ORG_NOT_FOUND: [404, 'Organization not found'],
  // A scope the creator does not hold in the org (`missing` lists them).
  ESCALATION_DENIED: [403, 'Cannot grant permissions you do not hold'],
  // Token exchange with a subject_token_type other than urn:tessera:token-type:pat (RFC 8693: invalid_request).
  UNSUPPORTED_TOKEN_TYPE: [400, 'Unsupported subject token type'],
} as const);
