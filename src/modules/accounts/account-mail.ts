import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/logger.js';
import type { Mail, Mailer } from '../../infra/mailer.js';
import { randomToken, sha256 } from '../../infra/random.js';
import { emails } from './emails.js';
import type { MailCooldown } from './mail-cooldown.js';
import type { AccountStore, EmailTokenPurpose, UserRow } from './store.js';

const VERIFY_TTL_MS = 24 * 3600 * 1000;
const RESET_TTL_MS = 30 * 60 * 1000;

/** Where the links in emails point: pages of the frontend, which call the API with the token. */
export type AppLinks = { appUrl: string; verifyEmailPath: string; resetPasswordPath: string; forgotPasswordPath: string };

/** The account mails: links issued for them, and when and whether they go out. */
export function createAccountMail({
  store,
  mailer,
  logger,
  clock,
  cooldown,
  links,
}: {
  store: AccountStore;
  mailer: Mailer;
  logger: Logger;
  clock: Clock;
  cooldown: MailCooldown;
  links: AppLinks;
}) {
  // Mail goes out after the response: an SMTP round trip would otherwise tell an observer
  // which addresses have accounts.
  const sendLater = (mail: Mail) => {
    mailer.send(mail).catch((err: Error) => logger.error({ err: err.message, subject: mail.subject }, 'email delivery failed'));
  };

  /**
   * Mail to an address someone typed (signup, resend, forgot). Everything runs after the
   * response: whether a link was issued, or a mail held back by the per-address cooldown, must
   * not show in the answer or in the time it takes (that would reveal which addresses exist).
   * Over the cooldown nothing is issued either, so the link already in the mailbox stays good.
   */
  const mailTypedAddressLater = (to: string, what: string, compose: () => Promise<Mail>) => {
    const work = async () => {
      if (!(await cooldown.admit(to))) {
        logger.warn({ what }, 'mail held back: this address had its hourly allowance');
        return;
      }
      await mailer.send(await compose());
    };
    work().catch((err: Error) => logger.error({ err: err.message, what }, 'email delivery failed'));
  };

  const link = (path: string, token: string) => `${links.appUrl}${path}?token=${token}`;

  /** A new link (voiding the previous one of its purpose) and the mail that carries it. */
  async function issueLink(user: UserRow, purpose: EmailTokenPurpose): Promise<Mail> {
    const token = randomToken();
    const ttl = purpose === 'verify_email' ? VERIFY_TTL_MS : RESET_TTL_MS;
    await store.replaceEmailToken({
      token_hash: sha256(token),
      user_id: user.id,
      purpose,
      email: user.email,
      expires_at: new Date(clock.now().getTime() + ttl),
    });
    return purpose === 'verify_email'
      ? emails.verify(user.email, link(links.verifyEmailPath, token))
      : emails.reset(user.email, link(links.resetPasswordPath, token));
  }

  const sendVerificationLater = (user: UserRow) => mailTypedAddressLater(user.email, 'verify_email', () => issueLink(user, 'verify_email'));

  return {
    sendLater,
    mailTypedAddressLater,
    issueLink,
    sendVerificationLater,
    forgotPasswordLink: `${links.appUrl}${links.forgotPasswordPath}`,
  };
}
