import type { RequestContext } from '../../shared/context.js';
import type { GrantRegistry } from './grants.js';
import type { KeyService } from './keys.service.js';
import { tokenError } from './errors.js';

/** The token endpoint's rules: dispatch to the grant, and what verifiers need to know (keys, metadata). */
export function createTokenService({
  grants,
  keys,
  issuer,
  publicUrl,
}: {
  grants: GrantRegistry;
  keys: KeyService;
  issuer: string;
  publicUrl: string;
}) {
  // Metadata other modules contribute (introspection its endpoint), paths relative to the public URL.
  const advertised: Record<string, string | string[]> = {};
  return {
    async exchange(body: { grant_type: string } & Record<string, unknown>, context: RequestContext) {
      const grant = grants.get(body.grant_type);
      if (!grant) throw tokenError('UNSUPPORTED_GRANT_TYPE', `This server does not serve the ${body.grant_type} grant yet.`);
      return grant.exchange(body, context);
    },

    jwks: () => keys.jwks(),

    /** Adds endpoints and capabilities of another module to the discovery document; `*_endpoint` values are paths. */
    advertise(fields: Record<string, string | string[]>) {
      for (const [name, value] of Object.entries(fields)) {
        advertised[name] = name.endsWith('_endpoint') && typeof value === 'string' ? `${publicUrl}${value}` : value;
      }
    },

    /** OpenID Provider Metadata, as far as it applies to a token service without an authorization endpoint. */
    discovery() {
      return {
        issuer,
        jwks_uri: `${publicUrl}/.well-known/jwks.json`,
        token_endpoint: `${publicUrl}/v1/token`,
        grant_types_supported: grants.types(),
        // Not registered by RFC 8414; the name other token-exchange servers use for what subject_token_type takes.
        token_exchange_subject_token_types_supported: grants.subjectTokenTypes(),
        token_endpoint_auth_methods_supported: ['none'],
        id_token_signing_alg_values_supported: keys.algorithms(),
        access_token_signing_alg_values_supported: keys.algorithms(),
        response_types_supported: [],
        subject_types_supported: ['public'],
        ...advertised,
      };
    },
  };
}

export type TokenService = ReturnType<typeof createTokenService>;
