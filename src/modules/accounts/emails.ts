import type { Mail } from '../../infra/mailer.js';

type Recipient = { email: string; name: string };

/** Plain-text emails. Every link is built from TESSERA_PUBLIC_URL by the caller. */
export const emails = {
  verify: (u: Recipient, link: string): Mail => ({
    to: u.email,
    subject: 'Confirm your email address',
    text: `Hello ${u.name},\n\nConfirm your email address by opening this link (valid for 24 hours):\n\n${link}\n\nIf you did not sign up, ignore this email.`,
  }),
  alreadyRegistered: (u: Recipient, forgotLink: string): Mail => ({
    to: u.email,
    subject: 'Someone tried to sign up with your email address',
    text: `Hello ${u.name},\n\nSomeone tried to create an account with this address, which already has one.\nIf it was you and you forgot your password, reset it here:\n\n${forgotLink}\n\nIf it was not you, no action is needed.`,
  }),
  reset: (u: Recipient, link: string): Mail => ({
    to: u.email,
    subject: 'Reset your password',
    text: `Hello ${u.name},\n\nReset your password with this link (valid for 30 minutes, usable once):\n\n${link}\n\nResetting signs you out everywhere. If you did not ask for this, ignore this email.`,
  }),
  passwordChanged: (u: Recipient): Mail => ({
    to: u.email,
    subject: 'Your password was changed',
    text: `Hello ${u.name},\n\nThe password of your account was just changed and your other sessions were signed out.\nIf this was not you, reset your password at once.`,
  }),
};
