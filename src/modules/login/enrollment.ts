import type { z } from 'zod';
import type { RequestContext } from '../../shared/context.js';
import type { EnrolledLogin, MfaService, webauthnRegistration } from '../mfa/index.js';
import type { LoginService } from './service.js';

/**
 * A login that must set up a second factor first (org policy: `POST /v1/login` answered
 * `mfa_enrollment_required` with an mfa_token and the methods the member may enrol). The set-up
 * and its confirmation are the mfa module's (`loginEnrolment`, bound to the parked login); this is
 * the login around it: a confirmed factor completes the login, and the session is opened the way
 * every login opens one (`open`: the parked login's org, aal 2, `session.login` audited with the
 * amr and the new factor).
 */
export function createLoginEnrolment(deps: { mfa: MfaService; open: LoginService['openSession'] }) {
  const enrolment = deps.mfa.loginEnrolment;

  async function opened(done: EnrolledLogin, context: RequestContext) {
    const { pending } = done;
    const pair = await deps.open(pending.userId, pending.orgId, done.amr, done.aal, context, done.proved);
    return { pair, mode: pending.mode, backupCodes: done.backupCodes };
  }

  return {
    totp: (mfaToken: string) => enrolment.totp(mfaToken),

    async confirmTotp(input: { mfaToken: string; code: string }, context: RequestContext) {
      return opened(await enrolment.confirmTotp(input.mfaToken, input.code, context), context);
    },

    sms: (input: { mfaToken: string; phone: string }, context: RequestContext) => enrolment.sms(input.mfaToken, input.phone, context),

    async confirmSms(input: { mfaToken: string; code: string }, context: RequestContext) {
      return opened(await enrolment.confirmSms(input.mfaToken, input.code, context), context);
    },

    webauthnOptions: (input: { mfaToken: string; passkey: boolean }) =>
      enrolment.webauthnOptions(input.mfaToken, { passkey: input.passkey }),

    async registerWebauthn(
      input: { mfaToken: string; response: z.infer<typeof webauthnRegistration>; name?: string },
      context: RequestContext,
    ) {
      const done = await enrolment.registerWebauthn(input.mfaToken, { response: input.response, name: input.name }, context);
      return opened(done, context);
    },
  };
}

export type LoginEnrolment = ReturnType<typeof createLoginEnrolment>;
