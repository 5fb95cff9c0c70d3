import { hmac } from '../../infra/random.js';
import { seal, unseal } from '../../infra/seal.js';

// The key is derived from the spent token itself: whoever holds the Postgres row cannot read
// the successor, only whoever presents the spent token again (the lost-response retry).
const keyFor = (spentToken: string) => hmac(spentToken, 'tessera/refresh-successor/v1');

export function sealSuccessor(spentToken: string, successor: string): string {
  return seal(keyFor(spentToken), successor).toString('base64url');
}

export function openSuccessor(spentToken: string, sealed: string): string | null {
  try {
    return unseal(keyFor(spentToken), Buffer.from(sealed, 'base64url')).toString('utf8');
  } catch {
    return null;
  }
}
