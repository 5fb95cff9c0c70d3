import { randomUUID } from 'node:crypto';
import type { Logger } from '../logger.js';
import type { SmsSender } from './sender.js';

/**
 * Development sender: one JSON log line per text, recipient and text included (like the log
 * mailer), so a person running `npm start` can read the code. Only ever chosen without SMS_URL,
 * by default in embedded mode alone (SMS_TO_LOG).
 */
export function createLogSmsSender(logger: Logger): SmsSender {
  return {
    kind: 'log',
    async send(message) {
      const id = randomUUID();
      logger.info({ sms: { id, to: message.to, text: message.body } }, 'text message (not sent: no SMS_URL)');
      return { id };
    },
  };
}
