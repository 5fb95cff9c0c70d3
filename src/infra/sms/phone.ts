import { parsePhoneNumberFromString, type NumberType } from 'libphonenumber-js/max';

export type ParsedPhone = { ok: true; e164: string; masked: string } | { ok: false; reason: 'invalid' | 'not_mobile'; detail: string };

// The types a text can reach. FIXED_LINE_OR_MOBILE is what the North American plan and a few
// others give every number (they cannot be told apart); undefined is a country whose metadata has
// no types. Landlines, toll-free, premium-rate (the SMS-pumping fraud), VoIP (NIST SP 800-63B
// does not accept it for out-of-band codes), pagers and forwarding numbers are refused.
const TEXTABLE = new Set<NumberType>(['MOBILE', 'FIXED_LINE_OR_MOBILE', undefined]);

/**
 * A phone number as a user types it, in international form (`+1 415 555 2671`, `+44 7911
 * 123456`): valid for its country and able to receive texts, in E.164 and masked.
 */
export function parseMobileNumber(input: string): ParsedPhone {
  const text = input.trim();
  if (!text.startsWith('+')) {
    return {
      ok: false,
      reason: 'invalid',
      detail: 'Give the number in international form: + then the country code, e.g. +1 415 555 2671.',
    };
  }
  const parsed = parsePhoneNumberFromString(text);
  if (!parsed || !parsed.isValid()) {
    return { ok: false, reason: 'invalid', detail: 'That is not a valid phone number for its country code.' };
  }
  if (parsed.ext) {
    return { ok: false, reason: 'invalid', detail: 'A text cannot reach an extension; give the mobile number alone.' };
  }
  if (!TEXTABLE.has(parsed.getType())) {
    return { ok: false, reason: 'not_mobile', detail: 'That number cannot receive text messages; give a mobile number.' };
  }
  return { ok: true, e164: parsed.number, masked: maskPhone(parsed.number) };
}

/**
 * How a number is shown anywhere outside the encrypted column: the country code and the last four
 * digits, `+1 ••• ••• 2671`. Enough for the owner to recognise it, too little to text it.
 */
export function maskPhone(e164: string): string {
  const parsed = parsePhoneNumberFromString(e164);
  const digits = e164.replace(/\D/g, '');
  const country = parsed?.countryCallingCode ?? digits.slice(0, 1);
  return `+${country} ••• ••• ${digits.slice(-4)}`;
}
