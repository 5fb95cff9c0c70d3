import type { Routes } from '../../../http/types.js';
import type { FactorLifecycle } from '../lifecycle.js';
import type { SmsFactor } from '../factors/sms.js';

// STUB: POST /v1/me/mfa/sms, /v1/me/mfa/sms/confirm, DELETE /v1/me/mfa/sms.
export const smsRoutes =
  (_sms: SmsFactor, _lifecycle: FactorLifecycle): Routes =>
  () => {};
