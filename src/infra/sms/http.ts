import { SmsDeliveryError, type SmsFailureReason, type SmsSender } from './sender.js';

export type HttpSmsSettings = {
  /** The API base, e.g. https://api.twilio.com (SMS_URL). */
  url: string;
  accountSid: string;
  authToken: string;
  /** A sender number in E.164, an alphanumeric sender id, or a Messaging Service SID (MG...). */
  from: string;
  /** The whole exchange, answer included; a provider that hangs must not hold a login. */
  timeoutMs?: number;
};

const DEFAULT_TIMEOUT_MS = 10_000;

// Twilio's codes for a recipient that cannot get this text: an invalid or unreachable number, a
// landline, an unsubscribed recipient, a region the account may not send to.
const RECIPIENT_CODES = new Set([21211, 21214, 21217, 21408, 21610, 21612, 21614, 21635]);
const AUTH_CODES = new Set([20003, 20005]);
const THROTTLE_CODES = new Set([20429, 14107]);
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

function classify(status: number, code: number | undefined): SmsFailureReason {
  if (status === 401 || status === 403 || (code !== undefined && AUTH_CODES.has(code))) return 'provider_auth';
  if (status === 429 || (code !== undefined && THROTTLE_CODES.has(code))) return 'throttled';
  if (status >= 500) return 'unavailable';
  if (code !== undefined && RECIPIENT_CODES.has(code)) return 'invalid_recipient';
  if (status >= 400) return 'rejected';
  return 'unavailable';
}

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Sends through Twilio's Messages API, or anything that speaks it: a form-encoded POST of `To`,
 * `From` (or `MessagingServiceSid`) and `Body` to `/2010-04-01/Accounts/{sid}/Messages.json` with
 * HTTP Basic auth. Error answers (`{code, message, more_info, status}`) become an
 * `SmsDeliveryError` with the status and the numeric code only. Nothing is logged here, and
 * neither the token nor the text ever goes into an error. No retry: the API has no idempotency
 * key, so a retry after a lost answer could text the user twice; they can ask again.
 */
export function createHttpSmsSender(settings: HttpSmsSettings): SmsSender {
  const endpoint = `${settings.url.replace(/\/+$/, '')}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
  const fromField = MESSAGING_SERVICE_SID.test(settings.from) ? 'MessagingServiceSid' : 'From';
  const timeoutMs = settings.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  return {
    kind: 'http',
    async send(message) {
      const form = new URLSearchParams({ To: message.to, [fromField]: settings.from, Body: message.body });
      let status: number;
      let text: string;
      try {
        const res = await fetch(endpoint, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
          body: form.toString(),
          // A redirect would carry the credentials somewhere we did not configure.
          redirect: 'error',
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.status;
        text = await res.text();
      } catch {
        // Refused connection, DNS, TLS, timeout, redirect: the cause can name the URL, never more.
        throw new SmsDeliveryError('unavailable');
      }
      const json = parseJson(text);
      if (status >= 200 && status < 300) {
        return typeof json?.sid === 'string' ? { id: json.sid } : {};
      }
      const code = typeof json?.code === 'number' && Number.isInteger(json.code) ? json.code : undefined;
      throw new SmsDeliveryError(classify(status, code), { status, providerCode: code });
    },
  };
}
