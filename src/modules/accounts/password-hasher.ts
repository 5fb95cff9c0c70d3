import argon2 from 'argon2';

export type Argon2Params = { memoryCost: number; timeCost: number; parallelism: number };

const PHC_ARGON2_ORDER = ['m', 't', 'p', 'keyid', 'data'];

/**
 * node-argon2 (0.40+) writes the parameters as `m=..,p=..,t=..` (ranisalt/node-argon2#559), but
 * the PHC format for argon2 fixes the order `m,t,p`, and strict parsers (libargon2's decoder,
 * libsodium, Spring Security) reject any other. Stored hashes must stay portable, so the
 * parameter segment is put back in the specified order; argon2.verify reads either.
 */
export function canonicalArgon2Phc(hash: string): string {
  return hash.replace(/^(\$argon2(?:id|i|d)\$(?:v=\d+\$)?)([^$]+)/, (_all, head: string, segment: string) => {
    const pairs = segment.split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv] as const);
    const rank = (k: string) => (PHC_ARGON2_ORDER.includes(k) ? PHC_ARGON2_ORDER.indexOf(k) : PHC_ARGON2_ORDER.length);
    return (
      head +
      pairs
        .sort((a, b) => rank(a[0]) - rank(b[0]))
        .map(([, kv]) => kv)
        .join(',')
    );
  });
}

export function createPasswordHasher(params: Argon2Params) {
  const options = { type: argon2.argon2id as 2, ...params };
  // Verified when the email is unknown, so that a miss costs what a wrong password costs.
  const dummy = argon2.hash('tessera-dummy-password-for-timing', options);
  return {
    hash: async (password: string) => canonicalArgon2Phc(await argon2.hash(password, options)),
    async verify(hash: string, password: string): Promise<boolean> {
      try {
        return await argon2.verify(hash, password);
      } catch {
        return false;
      }
    },
    async verifyDummy(password: string): Promise<false> {
      await argon2.verify(await dummy, password).catch(() => false);
      return false;
    },
    /** True when the hash was made with other parameters and should be replaced at next login. */
    needsRehash: (hash: string) => argon2.needsRehash(hash, options),
  };
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;
