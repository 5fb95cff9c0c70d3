import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';

/** What reached the provider, as it saw it. */
export type ProviderRequest = {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  accept: string | undefined;
  form: Record<string, string>;
};

/** How the provider answers one request: a status and a body, or no answer at all. */
export type ProviderAnswer = { status: number; body: string; headers?: Record<string, string> } | 'hang';

/** Twilio's error body: `{code, message, more_info, status}`. */
export function twilioError(status: number, code: number, message: string): ProviderAnswer {
  return {
    status,
    body: JSON.stringify({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }),
    headers: { 'content-type': 'application/json' },
  };
}

/**
 * A local HTTP server standing in for Twilio's Messages API: it checks the path, the method, HTTP
 * Basic auth and the form (answering 404, 401 with code 20003 and 400 with code 21604 the way
 * Twilio does), accepts a valid request with 201 and a message resource, and records everything.
 * `answerNext` queues other answers (Twilio error bodies, a 5xx page, a hang) for the next requests.
 */
export async function startFakeSmsProvider(
  t: Test,
  account = { sid: `AC${randomBytes(16).toString('hex')}`, token: randomBytes(16).toString('hex') },
) {
  const requests: ProviderRequest[] = [];
  const delivered: Array<{ to: string; body: string; from: string }> = [];
  const queued: ProviderAnswer[] = [];
  const hanging = new Set<http.ServerResponse>();
  const expectedPath = `/2010-04-01/Accounts/${account.sid}/Messages.json`;
  const expectedAuth = `Basic ${Buffer.from(`${account.sid}:${account.token}`).toString('base64')}`;

  function standardAnswer(req: ProviderRequest): ProviderAnswer {
    if (req.method !== 'POST' || req.path !== expectedPath) return twilioError(404, 20404, 'The requested resource was not found');
    if (req.authorization !== expectedAuth) return twilioError(401, 20003, 'Authenticate');
    if (!req.contentType?.startsWith('application/x-www-form-urlencoded')) return twilioError(400, 21603, 'Body is required');
    const { To: to, Body: body } = req.form;
    const from = req.form.From ?? req.form.MessagingServiceSid;
    if (!to) return twilioError(400, 21604, "A 'To' phone number is required.");
    if (!from) return twilioError(400, 21603, "A 'From' phone number is required.");
    if (!body) return twilioError(400, 21602, 'Message body is required.');
    delivered.push({ to, body, from });
    const sid = `SM${randomBytes(16).toString('hex')}`;
    return {
      status: 201,
      body: JSON.stringify({ sid, account_sid: account.sid, to, from, body, status: 'queued', num_segments: '1' }),
      headers: { 'content-type': 'application/json' },
    };
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://provider');
      const seen: ProviderRequest = {
        method: req.method ?? '',
        path: url.pathname,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        accept: req.headers.accept,
        form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      };
      requests.push(seen);
      const answer = queued.shift() ?? standardAnswer(seen);
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  return {
    url,
    account,
    requests,
    /** Messages the provider accepted (201). */
    delivered,
    /** The next requests get these answers, in order, whatever they carry. */
    answerNext(...answers: ProviderAnswer[]) {
      queued.push(...answers);
    },
    /** Drops queued answers: back to standard behaviour. */
    reset() {
      queued.length = 0;
    },
  };
}

export type FakeSmsProvider = Awaited<ReturnType<typeof startFakeSmsProvider>>;
