import type { SecondFactor } from '../factor.js';
import type { FactorDeps } from './deps.js';

// STUB: replaced by the WebAuthn implementation.
export function createWebauthnFactor(_deps: FactorDeps & { rp: { rpId: string; rpName: string; origins: string[] } }) {
  const factor: SecondFactor = {
    method: 'webauthn',
    availableWith: (confirmed) => confirmed.some((f) => f.kind === 'webauthn'),
    challenge: async () => ({}),
    verify: async () => null,
  };
  return factor;
}
export type WebauthnFactor = ReturnType<typeof createWebauthnFactor>;
