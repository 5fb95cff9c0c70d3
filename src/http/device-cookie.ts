import type { FastifyReply, FastifyRequest } from 'fastify';

// Sent only to the login endpoint; __Secure- where the cookie is Secure (__Host- needs Path=/).
const NAME = { secure: '__Secure-tessera_device', plain: 'tessera_device' };
const PATH = '/v1/login';
const SEPARATOR = '~';

const nameFor = (secure: boolean) => (secure ? NAME.secure : NAME.plain);

/**
 * Known-device tokens (OWASP "device cookies"): a browser that logged into an account keeps a
 * signed token proving it, so an attack on the account does not lock its owner out. One cookie
 * holds the tokens of the last few accounts used on this browser, newest first.
 */
export function readDeviceTokens(request: FastifyRequest, secure: boolean, fromBody?: string): string[] {
  const cookie = request.cookies?.[nameFor(secure)];
  const tokens = cookie ? cookie.split(SEPARATOR).filter(Boolean) : [];
  return fromBody ? [fromBody, ...tokens] : tokens;
}

export function setDeviceToken(
  reply: FastifyReply,
  request: FastifyRequest,
  token: string,
  options: { secure: boolean; maxAge: number; keep: number },
) {
  const deviceId = token.split('.')[0];
  const others = readDeviceTokens(request, options.secure).filter((t) => t.split('.')[0] !== deviceId);
  reply.setCookie(nameFor(options.secure), [token, ...others].slice(0, options.keep).join(SEPARATOR), {
    httpOnly: true,
    secure: options.secure,
    sameSite: 'strict',
    path: PATH,
    maxAge: options.maxAge,
  });
}
