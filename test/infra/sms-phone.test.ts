import t from 'tap';
import { maskPhone, parseMobileNumber } from '../../src/infra/sms/index.js';

t.test('mobile numbers in international form come out in E.164, masked to the country code and last four digits', async (t) => {
  const cases: Array<[string, string, string]> = [
    ['+1 (415) 555-2671', '+14155552671', '+1 ••• ••• 2671'],
    ['+14155552671', '+14155552671', '+1 ••• ••• 2671'],
    ['  +44 7911 123456 ', '+447911123456', '+44 ••• ••• 3456'],
    ['+49 176 12345678', '+4917612345678', '+49 ••• ••• 5678'],
    ['+33 6 12 34 56 78', '+33612345678', '+33 ••• ••• 5678'],
    ['+61 491 570 156', '+61491570156', '+61 ••• ••• 0156'],
  ];
  for (const [input, e164, masked] of cases) {
    t.same(parseMobileNumber(input), { ok: true, e164, masked }, input);
  }
});

t.test('numbers that are not valid, not international, or carry an extension are invalid', async (t) => {
  for (const input of [
    '12345',
    '4155552671',
    '+1',
    '+999 123 456 789',
    '+1 415 555 26',
    'not a number',
    '+44 7700 900123',
    '+1 415 555 2671 ext. 5',
  ]) {
    const r = parseMobileNumber(input);
    t.equal(r.ok, false, input);
    if (!r.ok) {
      t.equal(r.reason, 'invalid', input);
      t.ok(r.detail.length > 10, 'says what is wrong');
    }
  }
});

t.test('valid numbers that cannot receive texts are refused as not mobile', async (t) => {
  for (const [input, what] of [
    ['+44 20 7946 0958', 'UK landline'],
    ['+49 30 123456', 'German landline'],
    ['+1 800 555 0123', 'toll-free'],
    ['+1 900 555 0123', 'premium rate (SMS pumping)'],
    ['+33 9 12 34 56 78', 'French VoIP'],
  ]) {
    const r = parseMobileNumber(input);
    t.same(r.ok ? null : r.reason, 'not_mobile', `${what}: ${input}`);
  }
});

t.test('the mask never shows more than the country code and four digits', async (t) => {
  for (const e164 of ['+14155552671', '+447911123456', '+8613800138000']) {
    const masked = maskPhone(e164);
    const digits = masked.replace(/\D/g, '');
    const country = masked.slice(1, masked.indexOf(' '));
    t.equal(digits, country + e164.slice(-4), masked);
  }
});
