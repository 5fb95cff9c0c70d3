import type { Routes } from '../../http/types.js';
import { authOf } from '../../http/principal.js';
import { requestContext } from '../../http/context.js';
import { accepted, errorResponses, noContent } from '../../http/schemas.js';
import type { AccountService } from './service.js';
import { changePasswordBody, deleteMeBody, emailBody, patchMeBody, profile, resetBody, signupBody, verifyBody } from './schemas.js';
import { AUTHENTICATED_ROUTE_CODES } from '../../shared/common-errors.js';

const ACCEPTED = { status: 'accepted' as const };
const AUTH = AUTHENTICATED_ROUTE_CODES;
const POLICY = ['PASSWORD_TOO_SHORT', 'PASSWORD_TOO_LONG', 'PASSWORD_TOO_COMMON', 'PASSWORD_CONTAINS_EMAIL'];
const REENTRY = ['INVALID_PASSWORD', 'PASSWORD_ATTEMPTS_THROTTLED'];

export const accountRoutes =
  (accounts: AccountService): Routes =>
  (app, { authenticate, requireRecentAuth, publicRateLimit }) => {
    const tags = ['accounts'];
    const config = { rateLimit: publicRateLimit };

    app.post(
      '/v1/signup',
      { config, schema: { tags, body: signupBody, response: { 202: accepted, ...errorResponses(...POLICY) } } },
      async (req, reply) => {
        await accounts.signup(req.body, requestContext(req));
        return reply.status(202).send({ ...ACCEPTED, message: 'If the address can be used, a confirmation email is on its way.' });
      },
    );

    app.post(
      '/v1/email/verify',
      {
        config,
        schema: { tags, body: verifyBody, response: { 200: accepted, ...errorResponses('INVALID_EMAIL_TOKEN', ...POLICY) } },
      },
      async (req) => {
        await accounts.verifyEmail(req.body.token, req.body.password, requestContext(req));
        return { ...ACCEPTED, message: 'Email address confirmed and password set; every session was signed out.' };
      },
    );

    app.post(
      '/v1/email/verify/resend',
      { config, schema: { tags, body: emailBody, response: { 202: accepted, ...errorResponses() } } },
      async (req, reply) => {
        await accounts.resendVerification(req.body.email);
        return reply.status(202).send({ ...ACCEPTED, message: 'If the address has an unconfirmed account, a new link is on its way.' });
      },
    );

    app.post(
      '/v1/password/forgot',
      { config, schema: { tags, body: emailBody, response: { 202: accepted, ...errorResponses() } } },
      async (req, reply) => {
        await accounts.forgotPassword(req.body.email);
        return reply.status(202).send({ ...ACCEPTED, message: 'If the address belongs to an account, a reset link is on its way.' });
      },
    );

    app.post(
      '/v1/password/reset',
      { config, schema: { tags, body: resetBody, response: { 200: accepted, ...errorResponses('INVALID_EMAIL_TOKEN', ...POLICY) } } },
      async (req) => {
        await accounts.resetPassword(req.body.token, req.body.password, requestContext(req));
        return { ...ACCEPTED, message: 'Password changed; every session was signed out.' };
      },
    );

    app.get(
      '/v1/me',
      { preHandler: authenticate, schema: { tags, response: { 200: profile, ...errorResponses(...AUTH, 'USER_NOT_FOUND') } } },
      async (req) => {
        return accounts.view(await accounts.getProfile(authOf(req).userId));
      },
    );

    app.patch(
      '/v1/me',
      {
        preHandler: authenticate,
        schema: { tags, body: patchMeBody, response: { 200: profile, ...errorResponses(...AUTH, 'USER_NOT_FOUND') } },
      },
      async (req) => {
        return accounts.view(await accounts.updateProfile(authOf(req).userId, req.body, requestContext(req)));
      },
    );

    app.delete(
      '/v1/me',
      {
        // Step-up: a stolen access token alone cannot delete the account.
        preHandler: [authenticate, requireRecentAuth],
        schema: {
          tags,
          body: deleteMeBody,
          // LAST_OWNER: the account is some org's last Owner (the orgs are listed).
          response: { 204: noContent, ...errorResponses(...AUTH, 'USER_NOT_FOUND', 'REAUTHENTICATION_REQUIRED', 'LAST_OWNER', ...REENTRY) },
        },
      },
      async (req, reply) => {
        await accounts.deleteAccount(authOf(req).userId, req.body.password, requestContext(req));
        return reply.status(204).send(null);
      },
    );

    app.post(
      '/v1/me/password',
      {
        preHandler: authenticate,
        schema: {
          tags,
          body: changePasswordBody,
          response: { 200: accepted, ...errorResponses(...AUTH, 'USER_NOT_FOUND', ...REENTRY, ...POLICY) },
        },
      },
      async (req) => {
        const auth = authOf(req);
        await accounts.changePassword(auth.userId, auth.sessionId, req.body.current_password, req.body.new_password, requestContext(req));
        return { ...ACCEPTED, message: 'Password changed; your other sessions were signed out.' };
      },
    );
  };
