import { z } from 'zod';
import { email, password, uuid } from '../../http/schemas.js';
import { cookieSession, tokenPair } from '../tokens/index.js';

export const loginBody = z.strictObject({
  email,
  password,
  org_id: uuid.optional(),
  mode: z.enum(['token', 'cookie']).default('token'),
  /** For clients without a cookie jar: the device_token a previous login returned. */
  device_token: z.string().min(1).max(200).optional(),
});

/** Token mode also returns the known-device token, for clients that keep it themselves. */
export const loginTokens = tokenPair.extend({ device_token: z.string() });

export const loginResponse = z.union([loginTokens, cookieSession]);
