import nodemailer from 'nodemailer';
import type { Logger } from './logger.js';

export type Mail = { to: string; subject: string; text: string };

export interface Mailer {
  send(mail: Mail): Promise<void>;
}

/**
 * Development mailer: one JSON log line per email, links included, so a person running
 * `npm start` can follow a verification link. Never used when SMTP_URL is set.
 */
export function createLogMailer(logger: Logger, from: string): Mailer {
  return {
    async send(mail) {
      logger.info({ email: { from, to: mail.to, subject: mail.subject, text: mail.text } }, 'email (not sent: no SMTP_URL)');
    },
  };
}

export function createSmtpMailer(url: string, from: string): Mailer {
  const transport = nodemailer.createTransport(url);
  return {
    async send(mail) {
      await transport.sendMail({ from, to: mail.to, subject: mail.subject, text: mail.text });
    },
  };
}

/** Keeps what was sent, for tests that follow links the way a user would. */
export function createMemoryMailer(): Mailer & { sent: Mail[] } {
  const sent: Mail[] = [];
  return {
    sent,
    async send(mail) {
      sent.push(mail);
    },
  };
}
