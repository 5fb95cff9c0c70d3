import argon2 from 'argon2';

export type Argon2Params = { memoryCost: number; timeCost: number; parallelism: number };

export function createPasswordHasher(params: Argon2Params) {
  const options = { type: argon2.argon2id as 2, ...params };
  // Verified when the email is unknown, so that a miss costs what a wrong password costs.
  const dummy = argon2.hash('tessera-dummy-password-for-timing', options);
  return {
    hash: (password: string) => argon2.hash(password, options),
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
