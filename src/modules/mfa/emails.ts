import type { Mail } from '../../infra/mailer.js';

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
};

/** How a factor is named in those mails (never the secret, never the full phone number). */
export function describeFactor(kind: string, name: string): string {
  if (kind === 'totp') return `An authenticator app (${name})`;
  if (kind === 'sms') return `The phone number ${name}`;
  if (kind === 'webauthn') return `The security key or passkey "${name}"`;
  return name;
}
