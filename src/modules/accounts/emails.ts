import type { Mail } from '../../infra/mailer.js';

/**
 * Plain-text emails. Every link is built by the caller from the app URL (TESSERA_APP_URL).
 *
 * None of them carries the account's name: whoever typed an address at signup chose that name,
 * and the address may not be theirs. A mail to someone else's mailbox must not say what a
 * stranger wanted it to say ("Hello, your account is locked, call ..."), so every mail greets
 * generically and says only what Tessera wrote.
 */
export const emails = {
  verify: (to: string, link: string): Mail => ({
    to,
    subject: 'Confirm your email address',
    text: `Hello,\n\nConfirm your email address and choose your password by opening this link (valid for 24 hours):\n\n${link}\n\nIf you did not sign up, ignore this email.`,
  }),
  alreadyRegistered: (to: string, forgotLink: string): Mail => ({
    to,
    subject: 'Someone tried to sign up with your email address',
    text: `Hello,\n\nSomeone tried to create an account with this address, which already has one.\nIf it was you and you forgot your password, reset it here:\n\n${forgotLink}\n\nIf it was not you, no action is needed.`,
  }),
  reset: (to: string, link: string): Mail => ({
    to,
    subject: 'Reset your password',
    text: `Hello,\n\nReset your password with this link (valid for 30 minutes, usable once):\n\n${link}\n\nResetting signs you out everywhere. If you did not ask for this, ignore this email.`,
  }),
  passwordChanged: (to: string): Mail => ({
    to,
    subject: 'Your password was changed',
    text: `Hello,\n\nThe password of your account was just changed and your other sessions were signed out.\nIf this was not you, reset your password at once.`,
  }),
};
