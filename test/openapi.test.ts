import { readFile } from 'node:fs/promises';
import t from 'tap';
import { buildTestApp } from './helpers/app.js';
import { openapiDocument } from '../src/openapi.js';

t.test('the committed openapi/openapi.json matches the routes (run `npm run openapi` when this fails)', async (t) => {
  const ctx = await buildTestApp(t);
  const committed = await readFile('openapi/openapi.json', 'utf8');
  t.equal(openapiDocument(ctx.app), committed);
});

t.test('GET /openapi.json serves the document with every contract path', async (t) => {
  const ctx = await buildTestApp(t);
  const res = await ctx.app.inject({ method: 'GET', url: '/openapi.json' });
  t.equal(res.statusCode, 200);
  const paths = Object.keys(res.json().paths);
  for (const p of [
    '/v1/signup',
    '/v1/login',
    '/v1/token',
    '/v1/token/refresh',
    '/v1/logout',
    '/v1/me',
    '/v1/me/sessions',
    '/v1/me/sessions/{id}',
    '/v1/password/reset',
    '/.well-known/jwks.json',
  ]) {
    t.ok(paths.includes(p), `documents ${p}`);
  }
  const login = res.json().paths['/v1/login'].post;
  t.ok(login.requestBody.content['application/json'].schema.properties.password, 'login body schema comes from zod');
});
