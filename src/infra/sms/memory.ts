import { randomUUID } from 'node:crypto';
import type { SmsMessage, SmsSender } from './sender.js';

/** Keeps what was sent, for tests that read the code the way a user reads their phone. */
export function createMemorySmsSender(): SmsSender & { sent: SmsMessage[] } {
  const sent: SmsMessage[] = [];
  return {
    kind: 'memory',
    sent,
    async send(message) {
      sent.push({ to: message.to, body: message.body });
      return { id: randomUUID() };
    },
  };
}
