import type { KeyValueStore } from '../../../../infra/kv/kv.js';

/** How long a ceremony may take: the options' `timeout`, and the life of its challenge. */
export const CEREMONY_SECONDS = 300;

/** What a ceremony remembers between its options and its response. */
export type Ceremony = {
  /** base64url, as sent in the options and echoed in clientDataJSON. */
  challenge: string;
  /** Registration only: the user asked for a passkey (discoverable, user verification required). */
  passkey?: boolean;
};

const ceremonyKey = (scope: string) => `tessera:{webauthn}:ceremony:${scope}`;
const spentKey = (challenge: string) => `tessera:{webauthn}:spent:${challenge}`;

/**
 * WebAuthn challenges, kept server-side in the KV store (so any instance can finish a ceremony
 * another began) and never trusted from the client. One ceremony per scope: a registration is
 * keyed to the user and the session that started it, a second factor to its login attempt (or `reauth:<session>`), a passkey
 * login to its random challenge_id. Asking for new options replaces the old challenge.
 */
export function createCeremonies(kv: KeyValueStore) {
  return {
    async begin(scope: string, ceremony: Ceremony): Promise<void> {
      await kv.set(ceremonyKey(scope), JSON.stringify(ceremony), CEREMONY_SECONDS);
    },

    /**
     * Takes the scope's ceremony for one response, whether that response then verifies or not:
     * a challenge answers exactly once. Of concurrent takers only one gets it (the first to set
     * the challenge's spent marker), so the same signed response sent twice at once still counts
     * once. Null when there is none, it expired, or it was already taken. (Options asked for
     * while a response is being taken may go with the old challenge; the client asks again.)
     */
    async take(scope: string): Promise<Ceremony | null> {
      const raw = await kv.get(ceremonyKey(scope));
      if (!raw) return null;
      const ceremony = JSON.parse(raw) as Ceremony;
      if (!(await kv.setIfAbsent(spentKey(ceremony.challenge), '1', CEREMONY_SECONDS))) return null;
      await kv.del(ceremonyKey(scope));
      return ceremony;
    },
  };
}

export type Ceremonies = ReturnType<typeof createCeremonies>;
