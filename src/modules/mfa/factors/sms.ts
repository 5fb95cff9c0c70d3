import type { SecondFactor } from '../factor.js';
import type { FactorDeps } from './deps.js';

// STUB: replaced by the SMS implementation.
export function createSmsFactor(_deps: FactorDeps & { sms: unknown }) {
  const factor: SecondFactor = {
    method: 'sms',
    availableWith: (confirmed) => confirmed.some((f) => f.kind === 'sms'),
    challenge: async () => ({}),
    verify: async () => null,
  };
  return factor;
}
export type SmsFactor = ReturnType<typeof createSmsFactor>;
