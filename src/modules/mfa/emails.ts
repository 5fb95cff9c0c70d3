import type { Logger } from '../../infra/logger.js';
import type { Mail, Mailer } from '../../infra/mailer.js';

/** Security notices: a factor turned on or off is something the owner must hear about, from us. */
export const mfaEmails = {
  factorEnabled: (to: string, what: string): Mail => ({
    to,
    subject: 'A sign-in method was added to your account',
    text: `Hello,\n\n${what} was just added as a second factor for signing in to your account.\nIf this was not you, sign in, remove it, change your password and sign out your other sessions.`,
  }),
  factorRemoved: (to: string, what: string): Mail => ({
    to,
    subject: 'A sign-in method was removed from your account',
    text: `Hello,\n\n${what} was just removed from the second factors of your account.\nIf this was not you, sign in, change your password and review your security settings at once.`,
  }),
  backupCodesRegenerated: (to: string): Mail => ({
    to,
    subject: 'New backup codes were made for your account',
    text: `Hello,\n\nA new set of backup codes was just made for your account; the old codes no longer work.\nIf this was not you, sign in and review your security settings at once.`,
  }),
  secondFactorLocked: (to: string, failures: number): Mail => ({
    to,
    subject: 'Signing in to your account is locked',
    text: `Hello,\n\n${failures} wrong second-factor codes in a row were entered for your account, so second factors are no longer checked for it: signing in with your password and a second factor, and confirming it is you, are refused.\nTo unlock it, reset your password ("Forgot password" on the sign-in page); that also signs out every session.\nIf this was not you, someone knows your password or is signed in as you: the reset shuts them out.`,
  }),
};

/** How a factor is named in those mails (never the secret, never the full phone number). */
export function describeFactor(kind: string, name: string): string {
  if (kind === 'totp') return `An authenticator app (${name})`;
  if (kind === 'sms') return `The phone number ${name}`;
  if (kind === 'webauthn') return `The security key or passkey "${name}"`;
  return name;
}

/**
 * Sends a notice after the response (so a slow mail server slows nobody down), never failing
 * what triggered it: a notice that could not be sent is logged.
 */
export function createNotices(deps: { mailer: Mailer; logger: Logger; userEmail: (userId: string) => Promise<string> }) {
  return {
    send(userId: string, build: (to: string) => Mail): void {
      void deps
        .userEmail(userId)
        .then((to) => deps.mailer.send(build(to)))
        .catch((err: unknown) => deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'security notice not sent'));
    },
  };
}

export type Notices = ReturnType<typeof createNotices>;
