import type { App } from '../../http/types.js';
import type { Authenticate } from '../../http/authenticate.js';
import { authOf } from '../../http/authenticate.js';
import { requestContext } from '../../http/context.js';
import { accepted, noContent, problem } from '../../http/schemas.js';
import type { AccountService } from './service.js';
import { toProfile } from './service.js';
import { changePasswordBody, deleteMeBody, emailBody, patchMeBody, profile, resetBody, signupBody, tokenBody } from './schemas.js';

const ACCEPTED = { status: 'accepted' as const };

export function accountRoutes(app: App, { accounts, authenticate, publicRateLimit }: { accounts: AccountService; authenticate: Authenticate; publicRateLimit: object }) {
  const tags = ['accounts'];
  const errors = { 400: problem, 401: problem, 403: problem, 404: problem, 422: problem, 429: problem };

  app.post('/v1/signup', { config: { rateLimit: publicRateLimit }, schema: { tags, body: signupBody, response: { 202: accepted, ...errors } } }, async (req, reply) => {
    await accounts.signup(req.body, requestContext(req));
    return reply.status(202).send({ ...ACCEPTED, message: 'If the address can be used, a confirmation email is on its way.' });
  });

  app.post('/v1/email/verify', { config: { rateLimit: publicRateLimit }, schema: { tags, body: tokenBody, response: { 200: accepted.extend({}), ...errors } } }, async (req) => {
    await accounts.verifyEmail(req.body.token, requestContext(req));
    return { ...ACCEPTED, message: 'Email address confirmed.' };
  });

  app.post('/v1/email/verify/resend', { config: { rateLimit: publicRateLimit }, schema: { tags, body: emailBody, response: { 202: accepted, ...errors } } }, async (req, reply) => {
    await accounts.resendVerification(req.body.email);
    return reply.status(202).send({ ...ACCEPTED, message: 'If the address has an unconfirmed account, a new link is on its way.' });
  });

  app.post('/v1/password/forgot', { config: { rateLimit: publicRateLimit }, schema: { tags, body: emailBody, response: { 202: accepted, ...errors } } }, async (req, reply) => {
    await accounts.forgotPassword(req.body.email);
    return reply.status(202).send({ ...ACCEPTED, message: 'If the address belongs to a confirmed account, a reset link is on its way.' });
  });

  app.post('/v1/password/reset', { config: { rateLimit: publicRateLimit }, schema: { tags, body: resetBody, response: { 200: accepted, ...errors } } }, async (req) => {
    await accounts.resetPassword(req.body.token, req.body.password, requestContext(req));
    return { ...ACCEPTED, message: 'Password changed; every session was signed out.' };
  });

  app.get('/v1/me', { preHandler: authenticate, schema: { tags, response: { 200: profile, ...errors } } }, async (req) =>
    toProfile(await accounts.getProfile(authOf(req).userId)),
  );

  app.patch('/v1/me', { preHandler: authenticate, schema: { tags, body: patchMeBody, response: { 200: profile, ...errors } } }, async (req) =>
    toProfile(await accounts.updateProfile(authOf(req).userId, req.body, requestContext(req))),
  );

  app.delete('/v1/me', { preHandler: authenticate, schema: { tags, body: deleteMeBody, response: { 204: noContent, ...errors } } }, async (req, reply) => {
    await accounts.deleteAccount(authOf(req).userId, req.body.password, requestContext(req));
    return reply.status(204).send(null);
  });

  app.post('/v1/me/password', { preHandler: authenticate, schema: { tags, body: changePasswordBody, response: { 200: accepted, ...errors } } }, async (req) => {
    const auth = authOf(req);
    await accounts.changePassword(auth.userId, auth.sessionId, req.body.current_password, req.body.new_password, requestContext(req));
    return { ...ACCEPTED, message: 'Password changed; your other sessions were signed out.' };
  });
}
