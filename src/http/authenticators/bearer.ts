import { authError } from '../../shared/common-errors.js';
import type { Authenticator } from '../authenticate.js';
import { principalFromAccessToken, type AccessTokenChecks } from './access-token.js';

/** `Authorization: Bearer <access token>`. Any other Authorization header is refused, not skipped. */
export function bearerAuthenticator(checks: AccessTokenChecks): Authenticator {
  return async (request) => {
    const header = request.headers.authorization;
    if (!header) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) throw authError('INVALID_TOKEN', 'Use "Authorization: Bearer <access token>".');
    return principalFromAccessToken(match[1], 'bearer', checks);
  };
}
