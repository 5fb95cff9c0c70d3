import type { SecondFactor } from '../factor.js';
import type { FactorDeps } from './deps.js';

// STUB: replaced by the TOTP implementation.
export function createTotpFactor(_deps: FactorDeps & { issuer: string }) {
  const factor: SecondFactor = {
    method: 'totp',
    availableWith: (confirmed) => confirmed.some((f) => f.kind === 'totp'),
    verify: async () => null,
  };
  return factor;
}
export type TotpFactor = ReturnType<typeof createTotpFactor>;
