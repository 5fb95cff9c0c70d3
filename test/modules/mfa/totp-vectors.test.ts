import { randomBytes } from 'node:crypto';
import t from 'tap';
import { generateSecret } from 'otplib';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { hasOathtool, oathtool } from './totp-support.js';

// RFC 6238 Appendix B, the SHA-1 rows: the seed is the ASCII string "12345678901234567890",
// codes have 8 digits, the step is 30 s.
const RFC_SEED = Buffer.from('12345678901234567890', 'ascii');
const RFC_SHA1_ROWS: Array<[seconds: number, code: string]> = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

t.test('totpCode gives the RFC 6238 Appendix B codes (SHA-1)', async (t) => {
  for (const [seconds, expected] of RFC_SHA1_ROWS) {
    t.equal(totpCode(RFC_SEED, seconds, 8), expected, `T = ${seconds}`);
  }
  // The same secret as base32 (what an app is given) yields the same codes.
  const base32 = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
  t.equal(totpCode(base32, 59, 8), '94287082', 'base32 form of the RFC seed');
  // Six digits are the last six of the eight (the truncation is modulo 10^digits).
  t.equal(totpCode(RFC_SEED, 1111111109), '081804', 'six digits at T = 1111111109');
});

t.test(
  'totpCode agrees with oathtool, an independent generator',
  { skip: !hasOathtool && 'oathtool is not installed (apt-get install oathtool)' },
  async (t) => {
    // The RFC rows through oathtool too, so the reference itself is checked.
    for (const [seconds, expected] of RFC_SHA1_ROWS) {
      t.equal(oathtool('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ', seconds, 8), expected, `oathtool agrees with RFC 6238 at T = ${seconds}`);
    }
    // Random secrets of the kind enrolment makes, at random times and at step edges.
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 8; i++) {
      const secret = generateSecret({ length: 20 });
      const times = [now, now - (now % 30), now - (now % 30) + 29, 1 + (randomBytes(4).readUInt32BE() % 4_000_000_000)];
      for (const seconds of times) t.equal(totpCode(secret, seconds), oathtool(secret, seconds), `secret #${i} at ${seconds}`);
    }
  },
);
