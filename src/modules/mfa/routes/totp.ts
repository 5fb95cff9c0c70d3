import type { Routes } from '../../../http/types.js';
import type { FactorLifecycle } from '../lifecycle.js';
import type { TotpFactor } from '../factors/totp.js';

// STUB: POST /v1/me/mfa/totp, /v1/me/mfa/totp/confirm, DELETE /v1/me/mfa/totp.
export const totpRoutes =
  (_totp: TotpFactor, _lifecycle: FactorLifecycle): Routes =>
  () => {};
