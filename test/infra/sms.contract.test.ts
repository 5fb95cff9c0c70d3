import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { inspect } from 'node:util';
import t, { type Test } from 'tap';
import { createLogger } from '../../src/infra/logger.js';
import {
  createHttpSmsSender,
  createLogSmsSender,
  createMemorySmsSender,
  SmsDeliveryError,
  smsSenderFromConfig,
  type SmsMessage,
  type SmsSender,
} from '../../src/infra/sms/index.js';
import { startFakeSmsProvider, twilioError, type ProviderAnswer } from '../helpers/sms-provider.js';

/** A sender and a way to read what arrived at its far end (the provider, the log, the list). */
type Harness = { sender: SmsSender; delivered(): SmsMessage[] };

function logSink() {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, logger: createLogger('info', sink) };
}

const harnesses: Record<'http' | 'log' | 'memory', (t: Test) => Promise<Harness>> = {
  async http(t) {
    const provider = await startFakeSmsProvider(t);
    const sender = createHttpSmsSender({
      url: provider.url,
      accountSid: provider.account.sid,
      authToken: provider.account.token,
      from: '+15005550006',
    });
    return { sender, delivered: () => provider.delivered.map(({ to, body }) => ({ to, body })) };
  },
  async log() {
    const { lines, logger } = logSink();
    const sender = createLogSmsSender(logger);
    return {
      sender,
      delivered: () =>
        lines
          .map((l) => JSON.parse(l) as { sms?: { to: string; text: string } })
          .filter((l) => l.sms)
          .map((l) => ({ to: l.sms!.to, body: l.sms!.text })),
    };
  },
  async memory() {
    const sender = createMemorySmsSender();
    return { sender, delivered: () => sender.sent };
  },
};

// What every SmsSender must do, whichever far end it has.
for (const [kind, open] of Object.entries(harnesses)) {
  t.test(`${kind}: reports its kind`, async (t) => {
    const { sender } = await open(t);
    t.equal(sender.kind, kind);
  });

  t.test(`${kind}: a message arrives once, recipient and text unchanged (newlines and non-ASCII included)`, async (t) => {
    const h = await open(t);
    const message = { to: '+14155552671', body: '042917 est votre code — ne le partagez pas ✓\n\n@app.example.com #042917' };
    const receipt = await h.sender.send(message);
    t.type(receipt, 'object');
    t.same(h.delivered(), [message]);
  });

  t.test(`${kind}: messages sent one after another arrive in order`, async (t) => {
    const h = await open(t);
    const messages = [1, 2, 3].map((i) => ({ to: `+4479111234${50 + i}`, body: `message ${i}` }));
    for (const m of messages) await h.sender.send(m);
    t.same(h.delivered(), messages);
  });

  t.test(`${kind}: ten concurrent sends all arrive, none twice`, async (t) => {
    const h = await open(t);
    const messages = Array.from({ length: 10 }, (_, i) => ({ to: '+4917612345678', body: `code ${100000 + i}` }));
    await Promise.all(messages.map((m) => h.sender.send(m)));
    const got = h.delivered();
    t.equal(got.length, 10);
    t.same(new Set(got.map((m) => m.body)), new Set(messages.map((m) => m.body)));
  });
}

// The HTTP sender's side of Twilio's protocol.

t.test('http: the request is what Twilio expects (path, Basic auth, form fields, JSON accepted)', async (t) => {
  const provider = await startFakeSmsProvider(t);
  const sender = createHttpSmsSender({
    url: `${provider.url}/`,
    accountSid: provider.account.sid,
    authToken: provider.account.token,
    from: '+15005550006',
  });
  const receipt = await sender.send({ to: '+14155552671', body: 'hello & goodbye=1' });
  t.equal(provider.requests.length, 1);
  const [req] = provider.requests;
  t.equal(req.method, 'POST');
  t.equal(req.path, `/2010-04-01/Accounts/${provider.account.sid}/Messages.json`, 'no double slash from a trailing one in SMS_URL');
  t.equal(req.authorization, `Basic ${Buffer.from(`${provider.account.sid}:${provider.account.token}`).toString('base64')}`);
  t.match(req.contentType, /^application\/x-www-form-urlencoded/);
  t.match(req.accept, /application\/json/);
  t.same(req.form, { To: '+14155552671', From: '+15005550006', Body: 'hello & goodbye=1' }, 'form-encoded, nothing else sent');
  t.match(receipt.id, /^SM[0-9a-f]{32}$/, "the provider's message sid comes back");
});

t.test('http: a Messaging Service SID goes as MessagingServiceSid, not From', async (t) => {
  const provider = await startFakeSmsProvider(t);
  const service = `MG${'a1'.repeat(16)}`;
  const sender = createHttpSmsSender({
    url: provider.url,
    accountSid: provider.account.sid,
    authToken: provider.account.token,
    from: service,
  });
  await sender.send({ to: '+14155552671', body: 'x' });
  t.same(provider.requests[0].form, { To: '+14155552671', MessagingServiceSid: service, Body: 'x' });
});

t.test("http: the provider's error answers become typed errors that carry no secret", async (t) => {
  const provider = await startFakeSmsProvider(t);
  const token = provider.account.token;
  const cases: Array<{ name: string; answer: ProviderAnswer; reason: string; status?: number; code?: number }> = [
    {
      name: "21211 invalid 'To' number",
      answer: twilioError(400, 21211, "The 'To' number +15551234567 is not a valid phone number."),
      reason: 'invalid_recipient',
      status: 400,
      code: 21211,
    },
    {
      name: '21614 not a mobile number',
      answer: twilioError(400, 21614, "'To' number is not a valid mobile number"),
      reason: 'invalid_recipient',
      status: 400,
      code: 21614,
    },
    {
      name: '21610 unsubscribed recipient',
      answer: twilioError(400, 21610, 'Attempt to send to unsubscribed recipient'),
      reason: 'invalid_recipient',
      status: 400,
      code: 21610,
    },
    {
      name: '20003 authentication failed',
      answer: twilioError(401, 20003, 'Authenticate'),
      reason: 'provider_auth',
      status: 401,
      code: 20003,
    },
    { name: '429 too many requests', answer: twilioError(429, 20429, 'Too Many Requests'), reason: 'throttled', status: 429, code: 20429 },
    {
      name: '500 with a JSON body',
      answer: twilioError(500, 20500, 'Internal Server Error'),
      reason: 'unavailable',
      status: 500,
      code: 20500,
    },
    {
      name: '503 with an HTML page',
      answer: { status: 503, body: '<html>Service Unavailable</html>' },
      reason: 'unavailable',
      status: 503,
    },
    {
      name: "21606 a 'From' number we may not use",
      answer: twilioError(400, 21606, "The 'From' phone number is not valid"),
      reason: 'rejected',
      status: 400,
      code: 21606,
    },
    { name: 'a 400 that is not JSON', answer: { status: 400, body: 'bad' }, reason: 'rejected', status: 400 },
  ];
  for (const c of cases) {
    provider.answerNext(c.answer);
    const body = '735194 is your code';
    const err = await createHttpSmsSender({ url: provider.url, accountSid: provider.account.sid, authToken: token, from: '+15005550006' })
      .send({ to: '+15551234567', body })
      .then(
        () => null,
        (e: unknown) => e,
      );
    t.ok(err instanceof SmsDeliveryError, `${c.name}: an SmsDeliveryError`);
    const e = err as SmsDeliveryError;
    t.equal(e.reason, c.reason, `${c.name}: reason`);
    t.equal(e.status, c.status, `${c.name}: status`);
    t.equal(e.providerCode, c.code, `${c.name}: provider code`);
    const shown = `${inspect(e)} ${JSON.stringify(e)} ${e.stack}`;
    for (const secret of [token, body, '735194', '5551234567'])
      t.notOk(shown.includes(secret), `${c.name}: the error does not carry ${secret}`);
  }
  t.equal(provider.delivered.length, 0);
});

t.test('http: a provider that does not answer in time fails as unavailable, at the timeout', async (t) => {
  const provider = await startFakeSmsProvider(t);
  provider.answerNext('hang');
  const sender = createHttpSmsSender({
    url: provider.url,
    accountSid: provider.account.sid,
    authToken: provider.account.token,
    from: '+15005550006',
    timeoutMs: 300,
  });
  const started = Date.now();
  const err = await sender.send({ to: '+14155552671', body: 'x' }).catch((e: unknown) => e);
  const took = Date.now() - started;
  t.ok(err instanceof SmsDeliveryError && err.reason === 'unavailable', String(err));
  t.ok(took >= 250 && took < 3000, `gave up at the timeout (${took} ms)`);
});

t.test('http: no provider listening fails as unavailable', async (t) => {
  const closed = http.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const sender = createHttpSmsSender({
    url: `http://127.0.0.1:${port}`,
    accountSid: 'AC1',
    authToken: 'secret-token',
    from: '+15005550006',
  });
  const err = await sender.send({ to: '+14155552671', body: 'x' }).catch((e: unknown) => e);
  t.ok(err instanceof SmsDeliveryError && err.reason === 'unavailable', String(err));
  t.notOk(inspect(err).includes('secret-token'));
});

t.test('http: a redirect is not followed (the credentials would go with it)', async (t) => {
  const elsewhere = await startFakeSmsProvider(t);
  const provider = await startFakeSmsProvider(t);
  provider.answerNext({ status: 307, body: '', headers: { location: `${elsewhere.url}/2010-04-01/Accounts/x/Messages.json` } });
  const sender = createHttpSmsSender({
    url: provider.url,
    accountSid: provider.account.sid,
    authToken: provider.account.token,
    from: '+15005550006',
  });
  const err = await sender.send({ to: '+14155552671', body: 'x' }).catch((e: unknown) => e);
  t.ok(err instanceof SmsDeliveryError, String(err));
  t.equal(elsewhere.requests.length, 0, 'nothing reached the redirect target');
});

t.test('log: one JSON line per message, at info, with the recipient and the text', async (t) => {
  const { lines, logger } = logSink();
  await createLogSmsSender(logger).send({ to: '+14155552671', body: '123456 is your code' });
  t.equal(lines.length, 1);
  const line = JSON.parse(lines[0]);
  t.equal(line.level, 30);
  t.same({ to: line.sms.to, text: line.sms.text }, { to: '+14155552671', text: '123456 is your code' });
});

t.test('the configuration picks the sender: SMS_URL the provider, else the log when allowed, else none', async (t) => {
  const { logger } = logSink();
  const full = { url: 'https://api.twilio.com', accountSid: 'AC1', authToken: 'tok', from: '+15005550006' };
  t.equal(smsSenderFromConfig({ ...full, toLog: true }, logger)?.kind, 'http', 'SMS_URL wins over SMS_TO_LOG');
  t.equal(smsSenderFromConfig({ toLog: true }, logger)?.kind, 'log');
  t.equal(smsSenderFromConfig({ toLog: false }, logger), null);
});
