/** One text message: the recipient in E.164 (`+14155552671`) and the text. */
export type SmsMessage = { to: string; body: string };

/** What a sender learnt about a message it handed over (the provider's id, when it gives one). */
export type SmsReceipt = { id?: string };

/**
 * Where text messages go. Tessera only ever sends, one message per call; a sender either hands
 * the message over (resolves) or throws an `SmsDeliveryError`, never anything that says more
 * about the message than its reason.
 */
export interface SmsSender {
  readonly kind: 'http' | 'log' | 'memory';
  send(message: SmsMessage): Promise<SmsReceipt>;
}

/**
 * Why a message was not handed over:
 * - `invalid_recipient`: the provider says the number cannot get texts (not a number, a
 *   landline, unsubscribed, a region that is not enabled);
 * - `rejected`: the provider refused the request for another reason of its own;
 * - `provider_auth`: our credentials were refused (an operator's problem, not the user's);
 * - `throttled`: the provider asks us to slow down;
 * - `unavailable`: no answer, a timeout, a 5xx or an answer we cannot read.
 */
export type SmsFailureReason = 'invalid_recipient' | 'rejected' | 'provider_auth' | 'throttled' | 'unavailable';

/**
 * A message that was not sent. Carries the reason, the HTTP status and the provider's numeric
 * code, and nothing else: a provider's own `message` often repeats the number, so it is dropped.
 */
export class SmsDeliveryError extends Error {
  readonly reason: SmsFailureReason;
  readonly status?: number;
  readonly providerCode?: number;

  constructor(reason: SmsFailureReason, details: { status?: number; providerCode?: number } = {}) {
    const parts = [details.status && `HTTP ${details.status}`, details.providerCode && `provider code ${details.providerCode}`].filter(
      Boolean,
    );
    super(`text message not sent: ${reason}${parts.length ? ` (${parts.join(', ')})` : ''}`);
    this.name = 'SmsDeliveryError';
    this.reason = reason;
    this.status = details.status;
    this.providerCode = details.providerCode;
  }
}
