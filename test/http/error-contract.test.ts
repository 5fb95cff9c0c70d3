import t from 'tap';
import Fastify from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { registerProblemHandlers } from '../../src/http/problem.js';
import { errorResponses } from '../../src/http/schemas.js';
import { errorSpec } from '../../src/shared/errors.js';
import { accountError } from '../../src/modules/accounts/errors.js';
import { sessionError } from '../../src/modules/sessions/errors.js';
import { buildTestApp } from '../helpers/app.js';
import { documentedResponses } from '../helpers/openapi.js';

async function tinyApp(strict: boolean) {
  const app = Fastify().withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerProblemHandlers(app, { strict });
  const response = { 200: z.object({ ok: z.boolean() }), ...errorResponses('SESSION_NOT_FOUND') };
  app.get('/declared', { schema: { response } }, async () => {
    throw sessionError('SESSION_NOT_FOUND', 'gone');
  });
  app.get('/undeclared', { schema: { response } }, async () => {
    throw accountError('USER_NOT_FOUND', 'gone');
  });
  await app.ready();
  t.teardown(() => app.close());
  return app;
}

t.test('strict mode: a code the route did not declare is a 500, a declared one passes', async (t) => {
  const app = await tinyApp(true);
  const ok = await app.inject({ method: 'GET', url: '/declared' });
  t.equal(ok.statusCode, 404);
  t.equal(ok.json().code, 'SESSION_NOT_FOUND');
  const bad = await app.inject({ method: 'GET', url: '/undeclared' });
  t.equal(bad.statusCode, 500);
  t.equal(bad.json().code, 'UNDECLARED_ERROR');
  t.match(bad.json().detail, /USER_NOT_FOUND \(404\) is not declared by GET \/undeclared/);
});

t.test('production mode: an undeclared code still reaches the client as itself', async (t) => {
  const app = await tinyApp(false);
  const res = await app.inject({ method: 'GET', url: '/undeclared' });
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, 'USER_NOT_FOUND');
});

t.test('every error response of every route lists its codes, each from a catalogue with that status', async (t) => {
  // The whole suite runs in strict mode (buildTestApp), so every error a test provokes is checked
  // against these declarations; this checks the declarations themselves.
  const ctx = await buildTestApp(t);
  let checked = 0;
  for (const { path, method, status, codes } of documentedResponses(ctx.app)) {
    if (status < 400 || status >= 500) continue;
    t.ok(codes?.length, `${method} ${path} ${status} lists its codes`);
    for (const code of codes ?? []) {
      t.equal(errorSpec(code).status, status, `${method} ${path}: ${code} is a ${status}`);
      checked++;
    }
  }
  t.ok(checked > 30, `${checked} declared codes checked`);
});
