import type { Logger } from '../logger.js';
import { createHttpSmsSender } from './http.js';
import { createLogSmsSender } from './log.js';
import type { SmsSender } from './sender.js';

export type SmsSettings = { url?: string; accountSid?: string; authToken?: string; from?: string; toLog: boolean };

/**
 * The sender the configuration asks for: the provider when SMS_URL is set, the log when allowed
 * (SMS_TO_LOG, embedded mode by default), else none, and the SMS factor answers SMS_NOT_CONFIGURED.
 */
export function smsSenderFromConfig(settings: SmsSettings, logger: Logger): SmsSender | null {
  if (settings.url && settings.accountSid && settings.authToken && settings.from) {
    return createHttpSmsSender({ url: settings.url, accountSid: settings.accountSid, authToken: settings.authToken, from: settings.from });
  }
  return settings.toLog ? createLogSmsSender(logger) : null;
}

export { createHttpSmsSender, type HttpSmsSettings } from './http.js';
export { createLogSmsSender } from './log.js';
export { createMemorySmsSender } from './memory.js';
export { maskPhone, parseMobileNumber, type ParsedPhone } from './phone.js';
export { SmsDeliveryError, type SmsFailureReason, type SmsMessage, type SmsReceipt, type SmsSender } from './sender.js';
