import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM, the one sealing primitive: a random 96-bit IV, the 128-bit tag and the
 * ciphertext, packed as iv | tag | ciphertext. The keyring and the refresh-token successor
 * both use it; `aad` binds a ciphertext to what it belongs to (it cannot be moved to another row).
 */
export function seal(key: Buffer, plaintext: string | Buffer, aad?: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(Buffer.from(aad));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Throws when the key, the AAD or a single bit of the packed value is wrong. */
export function unseal(key: Buffer, packed: Buffer, aad?: string): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, packed.subarray(0, 12));
  decipher.setAuthTag(packed.subarray(12, 28));
  if (aad) decipher.setAAD(Buffer.from(aad));
  return Buffer.concat([decipher.update(packed.subarray(28)), decipher.final()]);
}
