import type { Grant } from '../tokens/index.js';
import { TOKEN_EXCHANGE } from '../tokens/schemas.js';
import { exchangeBody, exchangeResponse, PAT_TOKEN_TYPE } from './schemas.js';
import type { PatService } from './service.js';

/**
 * RFC 8693 token exchange at POST /v1/token (JSON or form): a personal access token
 * (`subject_token_type=urn:tessera:token-type:pat`) for an access token. Refusals: 400
 * INVALID_GRANT (`error: invalid_grant`) for every bad token, 400 UNSUPPORTED_TOKEN_TYPE
 * (`error: invalid_request`, as RFC 8693 §2.2.2 says) for another subject_token_type, 429
 * RATE_LIMITED with Retry-After past the per-token limit. `scope` narrows the token (400
 * INVALID_SCOPE, `error: invalid_scope`, for one the PAT does not carry); `requested_token_type`
 * may only ask for an access token.
 */
export function patExchangeGrant(pats: PatService): Grant<typeof exchangeBody, Awaited<ReturnType<PatService['exchange']>>> {
  return {
    type: TOKEN_EXCHANGE,
    schema: exchangeBody,
    response: exchangeResponse,
    errors: ['INVALID_GRANT', 'UNSUPPORTED_TOKEN_TYPE', 'INVALID_SCOPE', 'RATE_LIMITED'],
    subjectTokenTypes: [PAT_TOKEN_TYPE],
    exchange: (body, context) => pats.exchange(body, context),
  };
}
