import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { cookieResponse } from '../../http/cookies.js';
import { readDeviceTokens, setDeviceToken } from '../../http/device-cookie.js';
import { DEVICE_TOKEN_MAX_AGE, DEVICE_TOKENS_PER_CLIENT } from '../accounts/index.js';
import { errorResponses } from '../../http/schemas.js';
import type { LoginService } from './service.js';
import { loginBody, loginResponse } from './schemas.js';

export const loginRoutes =
  (login: LoginService): Routes =>
  (app, { csrf, cookieSecure }) => {
    app.post(
      '/v1/login',
      {
        schema: {
          tags: ['sessions'],
          body: loginBody,
          response: {
            200: loginResponse,
            // USER_NOT_FOUND: the account was deleted while this login was on its way.
            ...errorResponses('INVALID_CREDENTIALS', 'ORG_ACCESS_DENIED', 'LOGIN_THROTTLED', 'USER_NOT_FOUND'),
          },
        },
      },
      async (req, reply) => {
        const { email, password, org_id, mode, device_token } = req.body;
        const deviceTokens = readDeviceTokens(req, cookieSecure, device_token);
        const { pair, deviceToken } = await login.login({ email, password, orgId: org_id, deviceTokens }, requestContext(req));
        reply.header('cache-control', 'no-store');
        setDeviceToken(reply, req, deviceToken, { secure: cookieSecure, maxAge: DEVICE_TOKEN_MAX_AGE, keep: DEVICE_TOKENS_PER_CLIENT });
        return mode === 'cookie' ? cookieResponse(reply, pair, csrf, cookieSecure) : { ...pair, device_token: deviceToken };
      },
    );
  };
