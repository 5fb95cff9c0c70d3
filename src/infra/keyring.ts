import { createHmac, randomBytes } from 'node:crypto';
import { sha256 } from './random.js';
import { seal, unseal } from './seal.js';

/**
 * AES-256-GCM under a keyring. The first key encrypts; every key decrypts, so a new key can be
 * put in front and the old ones retired once `reencrypt` has run.
 * Ciphertext: "v1.<key id>.<base64url(iv | tag | ciphertext)>".
 */
export interface Keyring {
  encrypt(plaintext: string | Buffer, aad?: string): string;
  decrypt(ciphertext: string, aad?: string): Buffer;
  decryptString(ciphertext: string, aad?: string): string;
  /** Secrets derived per purpose from every key, newest first (so older ones still verify). */
  deriveSecrets(label: string): Buffer[];
}

export class KeyringError extends Error {}

type Entry = { id: string; key: Buffer };

/** Parses "id:base64,id:base64" (or bare base64 keys, whose id is derived from the key). */
export function parseKeyring(spec: string): Entry[] {
  const entries = spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((part, index) => {
      const colon = part.indexOf(':');
      const [id, material] = colon > 0 ? [part.slice(0, colon), part.slice(colon + 1)] : [null, part];
      const key = Buffer.from(material, 'base64');
      if (key.length !== 32) {
        throw new KeyringError(`TESSERA_ENCRYPTION_KEYS: key ${index + 1} must be 32 bytes of base64 (got ${key.length} bytes)`);
      }
      const keyId = id ?? sha256(key).toString('hex').slice(0, 8);
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(keyId)) {
        throw new KeyringError(`TESSERA_ENCRYPTION_KEYS: key id "${keyId}" must be 1-32 of [A-Za-z0-9_-]`);
      }
      return { id: keyId, key };
    });
  if (entries.length === 0) throw new KeyringError('TESSERA_ENCRYPTION_KEYS: no key given');
  return entries;
}

export function generateKeySpec(): string {
  return `local1:${randomBytes(32).toString('base64')}`;
}

export function createKeyring(spec: string): Keyring {
  const entries = parseKeyring(spec);
  const byId = new Map(entries.map((e) => [e.id, e.key]));
  const current = entries[0];
  return {
    encrypt(plaintext, aad) {
      return `v1.${current.id}.${seal(current.key, plaintext, aad).toString('base64url')}`;
    },
    decrypt(ciphertext, aad) {
      const [version, keyId, packed] = ciphertext.split('.');
      const key = byId.get(keyId);
      if (version !== 'v1' || !packed) throw new KeyringError('unrecognised ciphertext');
      if (!key) throw new KeyringError(`encryption key "${keyId}" is not in the keyring`);
      return unseal(key, Buffer.from(packed, 'base64url'), aad);
    },
    deriveSecrets(label) {
      return entries.map((e) => createHmac('sha256', e.key).update(label).digest());
    },
    decryptString(ciphertext, aad) {
      return this.decrypt(ciphertext, aad).toString('utf8');
    },
  };
}
