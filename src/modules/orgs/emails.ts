import type { Mail } from '../../infra/mailer.js';

/** "2025-03-14 09:30 UTC": one unambiguous form whatever the reader's locale. */
const when = (at: Date) => `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/**
 * The organizations module's emails, plain text. The link is built by the caller (TESSERA_APP_URL
 * and APP_INVITATION_PATH) and carries the invitation's token: the mail is the only place it is
 * ever written, never a log line.
 */
export const orgEmails = {
  invitation: (to: string, input: { orgName: string; inviterName: string; link: string; expiresAt: Date }): Mail => ({
    to,
    subject: `You are invited to join ${input.orgName}`,
    text:
      `Hello,\n\n${input.inviterName} invited you to join the organization ${input.orgName}.\n\n` +
      `Accept the invitation with this link (valid until ${when(input.expiresAt)}, usable once):\n\n${input.link}\n\n` +
      `If you do not know ${input.inviterName} or did not expect this invitation, ignore this email.`,
  }),
};
