import { randomInt } from 'node:crypto';
import type { Clock } from '../../../infra/clock.js';
import type { Executor } from '../../../infra/db/unit-of-work.js';
import { hmac } from '../../../infra/random.js';
import type { SecondFactor } from '../factor.js';
import type { MfaStore } from '../store.js';

export const BACKUP_CODE_COUNT = 10;
// Lower-case letters and digits without the look-alikes (0/o, 1/l/i): 31 symbols, 10 of them per
// code is 49.5 bits, shown as two groups of five.
const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
const LENGTH = 10;

/** What the user types, however they type it: case, spaces and hyphens do not matter. */
export function normalizeBackupCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

function newCode(): string {
  let raw = '';
  for (let i = 0; i < LENGTH; i++) raw += ALPHABET[randomInt(ALPHABET.length)];
  return `${raw.slice(0, 5)}-${raw.slice(5)}`;
}

/**
 * Ten single-use codes for when the other factors are out of reach. Stored as HMAC-SHA256 under a
 * keyring-derived key (secrets[0] writes, every one reads, so the keyring can rotate): a copy of
 * the table alone does not let anyone search the 2^49 codes offline. Spending is one UPDATE on
 * the keyed hash, so the same code sent twice at once is accepted once.
 */
export function createBackupCodes(deps: { store: MfaStore; clock: Clock; secrets: Buffer[] }): SecondFactor & {
  generate(userId: string, ex?: Executor): Promise<string[]>;
  remaining(userId: string): Promise<number>;
} {
  const { store, clock, secrets } = deps;
  const hashOf = (secret: Buffer, userId: string, code: string) => hmac(secret, `${userId}:${normalizeBackupCode(code)}`);

  return {
    method: 'backup_code',

    availableWith(confirmed, remaining) {
      return confirmed.length > 0 && remaining > 0;
    },

    async verify(attempt, proof) {
      const code = proof.code ?? '';
      if (normalizeBackupCode(code).length !== LENGTH) return null;
      for (const secret of secrets) {
        const remaining = await store.spendBackupCode(attempt.userId, hashOf(secret, attempt.userId, code), clock.now());
        if (remaining !== null) return { amr: ['otp'], data: { backup_codes_remaining: remaining } };
      }
      return null;
    },

    /** A new set; the old one is void. Returns the codes, which are never readable again. */
    async generate(userId, ex) {
      const codes = Array.from({ length: BACKUP_CODE_COUNT }, newCode);
      await store.replaceBackupCodes(
        userId,
        codes.map((c) => hashOf(secrets[0], userId, c)),
        ex,
      );
      return codes;
    },

    remaining(userId) {
      return store.backupCodesRemaining(userId);
    },
  };
}

export type BackupCodes = ReturnType<typeof createBackupCodes>;
