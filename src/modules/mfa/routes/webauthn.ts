import type { Routes } from '../../../http/types.js';
import type { FactorLifecycle } from '../lifecycle.js';
import type { WebauthnFactor } from '../factors/webauthn.js';

// STUB: /v1/me/webauthn/registration/options, /registration, /credentials (list, rename, remove).
export const webauthnRoutes =
  (_webauthn: WebauthnFactor, _lifecycle: FactorLifecycle): Routes =>
  () => {};
