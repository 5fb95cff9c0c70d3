import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { sha256 } from '../../infra/random.js';

/**
 * The personal access token's secret: `tsr_pat_` + 32 random bytes in base62 (43 characters,
 * zero-padded) + the CRC32 of everything before it in base62 (6 characters, zero-padded): 57
 * characters, like GitHub's `ghp_` tokens. The fixed prefix lets secret scanners recognise a
 * leaked token, and the checksum lets `parse` refuse a mistyped or truncated one without a
 * lookup. Only the SHA-256 of the whole secret is stored, with a display prefix.
 */
export const PAT_PREFIX = 'tsr_pat_';
const RANDOM_BYTES = 32;
/** 62^43 > 2^256: every 32-byte value fits. */
const RANDOM_LENGTH = 43;
/** 62^6 > 2^32. */
const CHECKSUM_LENGTH = 6;
export const PAT_LENGTH = PAT_PREFIX.length + RANDOM_LENGTH + CHECKSUM_LENGTH;
/** The display prefix: `tsr_pat_` and the first characters of the random part (never enough to matter). */
const DISPLAY_CHARS = 4;

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SHAPE = new RegExp(`^${PAT_PREFIX}[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

/** Base62 of a non-negative integer, left-padded with zeros to `width` characters. */
export function base62(value: bigint, width: number): string {
  let out = '';
  let n = value;
  while (n > 0n) {
    out = ALPHABET[Number(n % 62n)]! + out;
    n /= 62n;
  }
  if (out.length > width) throw new Error(`${value} does not fit ${width} base62 characters`);
  return out.padStart(width, '0');
}

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, the zlib one), table-driven: for Node versions without zlib.crc32 (before 20.15). */
export function crc32Table(data: string | Buffer): number {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let crc = 0xffffffff;
  for (const byte of bytes) crc = TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: string | Buffer) => number }).crc32;

/** CRC-32 of the UTF-8 bytes: node:zlib's where Node has it (20.15 and later), else the table. */
export const crc32: (data: string | Buffer) => number = typeof native === 'function' ? (data) => native(data) >>> 0 : crc32Table;

const checksumOf = (body: string) => base62(BigInt(crc32(body)), CHECKSUM_LENGTH);

export type NewPat = {
  /** Shown once, to the creator. */
  secret: string;
  /** What lists show: `tsr_pat_` and the first four characters of the random part. */
  prefix: string;
  /** SHA-256 of the whole secret: the only form stored. */
  hash: Buffer;
};

export function generatePat(): NewPat {
  const random = base62(BigInt(`0x${randomBytes(RANDOM_BYTES).toString('hex')}`), RANDOM_LENGTH);
  const body = `${PAT_PREFIX}${random}`;
  const secret = `${body}${checksumOf(body)}`;
  return { secret, prefix: displayPrefix(random), hash: sha256(secret) };
}

const displayPrefix = (random: string) => `${PAT_PREFIX}${random.slice(0, DISPLAY_CHARS)}`;

/** What a well-formed secret is looked up by. */
export type ParsedPat = { hash: Buffer; prefix: string };

/**
 * A secret of the right prefix, length, alphabet and checksum (its hash, for the lookup), or null.
 * Costs no I/O: a typo, a truncated paste or another kind of token never reaches the database.
 */
export function parsePat(secret: string): ParsedPat | null {
  if (secret.length !== PAT_LENGTH || !SHAPE.test(secret)) return null;
  const body = secret.slice(0, PAT_LENGTH - CHECKSUM_LENGTH);
  if (checksumOf(body) !== secret.slice(PAT_LENGTH - CHECKSUM_LENGTH)) return null;
  return { hash: sha256(secret), prefix: displayPrefix(body.slice(PAT_PREFIX.length)) };
}

/** Whether a string looks like a PAT at all (prefix only): for telling PATs from JWTs, not for trusting them. */
export const looksLikePat = (value: string) => value.startsWith(PAT_PREFIX);
