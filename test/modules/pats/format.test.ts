import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildTestApp } from '../../helpers/app.js';
import { createTestDatabase } from '../../helpers/db.js';
import { assertProblem } from '../../helpers/problem.js';
import { orgWithOwner } from '../../helpers/orgs.js';
import { countingDb, createPat, exchange } from '../../helpers/pats.js';
import { base62, crc32, crc32Table, generatePat, parsePat, PAT_LENGTH } from '../../../src/modules/pats/format.js';
import { sha256 } from '../../../src/infra/random.js';

/** The secret's format: prefix, 43 base62 characters of 32 random bytes, a 6-character CRC32; a typo costs no lookup. */

t.test('CRC-32: the standard check value of "123456789" is 0xCBF43926 (node:zlib and the table agree)', async (t) => {
  t.equal(crc32Table('123456789'), 0xcbf43926, 'table-driven');
  t.equal(crc32('123456789'), 0xcbf43926, 'the one in use');
  t.equal(crc32Table(''), 0);
  for (const s of ['tsr_pat_', 'a', 'The quick brown fox jumps over the lazy dog']) t.equal(crc32Table(s), crc32(s), s);
  t.equal(crc32Table('The quick brown fox jumps over the lazy dog'), 0x414fa339);
});

t.test('round trip: generated secrets parse, to the hash that is stored and the display prefix', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const pat = generatePat();
    t.equal(pat.secret.length, PAT_LENGTH);
    t.equal(PAT_LENGTH, 57);
    if (!/^tsr_pat_[0-9A-Za-z]{49}$/.test(pat.secret)) t.fail(`shape of ${pat.secret}`);
    const parsed = parsePat(pat.secret);
    if (!parsed || !parsed.hash.equals(sha256(pat.secret)) || !parsed.hash.equals(pat.hash) || parsed.prefix !== pat.prefix) {
      t.fail(`round trip of ${pat.secret}`);
    }
    t.equal(pat.prefix, pat.secret.slice(0, 12));
    seen.add(pat.secret);
  }
  t.equal(seen.size, 200, 'no repeats');
  t.equal(base62(0n, 6), '000000', 'fixed width');
  t.equal(base62(2n ** 32n - 1n, 6).length, 6, 'a CRC always fits six characters');
  t.equal(base62(2n ** 256n - 1n, 43).length, 43, '32 bytes always fit 43 characters');
});

t.test('typos, truncations, other prefixes and characters are refused by parse', async (t) => {
  const { secret } = generatePat();
  const flip = (i: number) => secret.slice(0, i) + (secret[i] === 'A' ? 'B' : 'A') + secret.slice(i + 1);
  for (let i = 8; i < secret.length; i++) t.equal(parsePat(flip(i)), null, `a typo at ${i}`);
  const swapped = secret.slice(0, 20) + secret[21] + secret[20] + secret.slice(22);
  if (secret[20] !== secret[21]) t.equal(parsePat(swapped), null, 'two characters swapped');
  for (const bad of [
    secret.slice(0, -1),
    `${secret}0`,
    secret.replace('tsr_pat_', 'tsr_pak_'),
    secret.replace('tsr_pat_', 'TSR_PAT_'),
    `${secret.slice(0, 30)}-${secret.slice(31)}`,
    '',
    'tsr_pat_',
  ]) {
    t.equal(parsePat(bad), null, JSON.stringify(bad.slice(0, 16)));
  }
});

t.test('a mistyped PAT is refused before any database query; an unknown well-formed one costs one; a known one none', async (t) => {
  const database = await createTestDatabase();
  const counting = countingDb(database.url);
  t.teardown(async () => {
    await counting.close();
    await database.drop();
  });
  const ctx = await buildTestApp(t, { shareDb: { db: counting.db, url: database.url } });
  const { owner, org } = await orgWithOwner(ctx);
  const pat = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
  t.equal((await exchange(ctx, pat.token)).statusCode, 200, 'warm: the row and the access are remembered');
  const settle = async () => {
    await ctx.services.audit.drain();
    await sleep(50);
  };
  await settle();

  const typo = pat.token.slice(0, 25) + (pat.token[25] === 'q' ? 'r' : 'q') + pat.token.slice(26);
  let before = counting.queries();
  assertProblem(t, await exchange(ctx, typo), 400, 'INVALID_GRANT');
  await settle();
  t.equal(counting.queries() - before, 0, 'a typo: no query');

  before = counting.queries();
  assertProblem(t, await exchange(ctx, pat.token.slice(0, -2)), 400, 'INVALID_GRANT');
  await settle();
  t.equal(counting.queries() - before, 0, 'a truncated one: no query');

  // The counter counts: a well-formed secret nobody holds is looked up.
  before = counting.queries();
  assertProblem(t, await exchange(ctx, generatePat().secret), 400, 'INVALID_GRANT');
  await settle();
  t.equal(counting.queries() - before, 1, 'an unknown well-formed one: one lookup');

  before = counting.queries();
  t.equal((await exchange(ctx, pat.token)).statusCode, 200);
  await settle();
  t.equal(counting.queries() - before, 0, 'the hot path: a remembered PAT exchanges without Postgres');
});
