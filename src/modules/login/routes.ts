import type { Routes } from '../../http/types.js';
import { requestContext } from '../../http/context.js';
import { cookieResponse } from '../../http/cookies.js';
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
            ...errorResponses('INVALID_CREDENTIALS', 'EMAIL_NOT_VERIFIED', 'ORG_ACCESS_DENIED', 'LOGIN_THROTTLED'),
          },
        },
      },
      async (req, reply) => {
        const { email, password, org_id, mode } = req.body;
        const pair = await login.login({ email, password, orgId: org_id }, requestContext(req));
        reply.header('cache-control', 'no-store');
        return mode === 'cookie' ? cookieResponse(reply, pair, csrf, cookieSecure) : pair;
      },
    );
  };
