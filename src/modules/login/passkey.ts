import type { RequestContext } from '../../shared/context.js';
import { defineErrors } from '../../shared/errors.js';
import type { AuditService } from '../audit/index.js';
import type { Passkeys } from '../mfa/index.js';
import { orgError } from '../orgs/errors.js';
import type { LoginService, OrgAccessCheck } from './service.js';

export const passkeyError = defineErrors({
  // One answer for every refusal (expired or reused challenge, unknown credential, wrong user
  // handle, no user verification, bad signature, cloned key): none says whether the credential exists.
  PASSKEY_INVALID: [401, 'Passkey not accepted'],
} as const);

/** How every login opens its session (login.service's openSession). */
type OpenSession = LoginService['openSession'];

/**
 * Passwordless login: a passkey alone opens an aal2 session. The WebAuthn ceremony is the mfa
 * module's (its webauthn factor owns the credentials); this is the login around it: one
 * refusal for every failure, audited with its reason (against the account once the credential
 * and its user handle have named it), and the session opened the way every login opens one
 * (`open`, which audits `session.login` with the amr).
 *
 * Failures are not counted against the account's second-factor budget, nor is it enforced here.
 * The budget exists so that guessable codes cannot be guessed, and a signature from a
 * user-verifying authenticator cannot be. Counting would hand anyone who knows a credential id
 * and its user handle (no password needed) a way to keep the owner's codes paused or locked;
 * enforcing would let whoever spent the budget lock the owner out of a passkey that cannot be guessed.
 */
export function createPasskeyLogin(deps: {
  passkeys: Passkeys;
  audit: AuditService;
  open: OpenSession;
  /** For a login with org_id: the member's access and the policy's rule for a passkey (WebAuthn). */
  orgAccess: (userId: string, orgId: string, methods: string[]) => Promise<OrgAccessCheck>;
  outcome: (outcome: 'invalid_credentials') => void;
}) {
  const { passkeys, audit } = deps;

  return {
    /** Request options for any passkey of this site, bound to a new challenge_id (5 minutes, one answer). */
    options: () => passkeys.options(),

    async login(input: { challengeId: string; response: unknown; mode: 'token' | 'cookie'; orgId?: string }, context: RequestContext) {
      const result = await passkeys.verify(input.challengeId, input.response, context);
      if (!result.ok) {
        audit.recordDetached({
          action: 'mfa.verification_failed',
          actorId: result.userId,
          data: { method: 'passkey', purpose: 'login', reason: result.reason },
          context,
        });
        deps.outcome('invalid_credentials');
        throw passkeyError('PASSKEY_INVALID', 'The passkey was not accepted; ask for new options and try again.');
      }
      audit.recordDetached({
        action: 'mfa.verified',
        actorId: result.userId,
        targetType: 'mfa_factor',
        targetId: result.factorId,
        data: { method: 'passkey', purpose: 'login' },
        context,
      });
      // A passkey is WebAuthn: an org that does not allow it (past the grace period) refuses the login.
      const org = input.orgId ? await deps.orgAccess(result.userId, input.orgId, ['webauthn']) : undefined;
      if (org?.rule.kind === 'enroll') {
        throw orgError('ORG_FACTOR_NOT_ALLOWED', 'This organization does not accept passkeys; sign in with an allowed factor.');
      }
      const pair = await deps.open(result.userId, input.orgId ?? null, result.amr, 2, context, { method: 'webauthn' }, org);
      return { pair, mode: input.mode };
    },
  };
}

export type PasskeyLogin = ReturnType<typeof createPasskeyLogin>;
