import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { hmac } from '../../infra/random.js';

// The key is derived from the spent token itself: whoever holds the Postgres row cannot read
// the successor, only whoever presents the spent token again (the lost-response retry).
const keyFor = (spentToken: string) => hmac(spentToken, 'tessera/refresh-successor/v1');

export function sealSuccessor(spentToken: string, successor: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(spentToken), iv);
  const body = Buffer.concat([cipher.update(successor, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function openSuccessor(spentToken: string, sealed: string): string | null {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyFor(spentToken), raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    return null;
  }
}
