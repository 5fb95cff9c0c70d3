/**
 * Architecture rules for Tessera, checked by `npm run lint:deps`
 * (`depcruise src --config .dependency-cruiser.cjs`).
 *
 * Every rule is an error. A rule whose paths match nothing (e.g. before src/modules/login/ exists) simply never fires.
 * Type-only imports count too (tsPreCompilationDeps): a type import still couples the layers (and, for the SDK,
 * leaks into its published declarations).
 *
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'Import cycles make module initialisation order fragile and mean the modules cannot be understood (or tested) ' +
        'separately. Break the cycle: move the shared piece down (src/shared/ or src/infra/), or invert the dependency ' +
        '(pass a function/interface in from the composition root in src/app.ts).',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      // no-circular looks at files; this looks at the feature folders as a whole. accounts/service.ts -> sessions/service.ts
      // plus sessions/routes.ts -> accounts/service.ts is no file cycle, but it is a cycle between the two modules.
      name: 'no-circular-modules',
      severity: 'error',
      comment:
        'The feature modules under src/modules/ must form a hierarchy (e.g. login -> accounts, sessions, tokens -> audit). ' +
        'Two modules that import each other (in any files) are really one module: move the shared piece into the lower ' +
        'module or src/shared/, or hand the dependency in from src/app.ts.',
      scope: 'folder',
      from: { path: '^src/modules/[^/]+$' },
      to: { path: '^src/modules/[^/]+$', circular: true },
    },
    {
      name: 'no-foreign-store',
      severity: 'error',
      comment:
        "A feature module's store (store.ts, *.store.ts) is its private persistence layer. Another module must go " +
        "through that module's service (or an interface it is handed), never read or write its tables directly.",
      from: { path: '^src/modules/([^/]+)/' },
      to: { path: '^src/modules/([^/]+)/[^/]*store\\.ts$', pathNot: '^src/modules/$1/' },
    },
    {
      name: 'infra-knows-no-feature',
      severity: 'error',
      comment:
        'src/infra/ is the technical foundation (db, kv, clock, mail, keys...). It must not know about features, the ' +
        'HTTP layer or the composition root, or it cannot be reused and every feature change ripples into it.',
      from: { path: '^src/infra/' },
      to: { path: ['^src/modules/', '^src/http/', '^src/app\\.ts$'] },
    },
    {
      name: 'sdk-is-standalone',
      severity: 'error',
      comment:
        'src/sdk/ is published to resource servers. It may only use src/shared/ and npm packages: importing server ' +
        'code (modules, infra, http, config, app) would drag the whole server and its configuration into every consumer.',
      from: { path: '^src/sdk/' },
      to: { path: ['^src/modules/', '^src/infra/', '^src/http/', '^src/config\\.ts$', '^src/app\\.ts$'] },
    },
    {
      name: 'shared-is-plain',
      severity: 'error',
      comment:
        'src/shared/ holds plain types, errors and helpers used by the server AND the SDK. It must not depend on ' +
        'features, infrastructure or HTTP, or the SDK (and everything else) would transitively depend on them too.',
      from: { path: '^src/shared/' },
      to: { path: ['^src/modules/', '^src/infra/', '^src/http/'] },
    },
    {
      name: 'http-knows-no-feature',
      severity: 'error',
      comment:
        'src/http/ is the generic HTTP plumbing (errors, auth guard, cookies, metrics). Features plug into it, not the ' +
        'other way round: wire features together in src/app.ts and hand http/ what it needs as functions or interfaces.',
      from: { path: '^src/http/' },
      to: { path: '^src/modules/' },
    },
    {
      name: 'nothing-depends-on-login',
      severity: 'error',
      comment:
        'Login is a top-level use case that orchestrates accounts, sessions and tokens. Other feature modules must not ' +
        'depend on it (that is how cycles start); if they need something from it, move that piece down into the lower module.',
      from: { path: '^src/modules/', pathNot: '^src/modules/login/' },
      to: { path: '^src/modules/login/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment:
        'This import cannot be resolved to a file or an installed package: a typo, a missing `.js` extension target, ' +
        'or a package that is not installed. It will fail at run time.',
      from: { path: '^src/' },
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules'] },
    exclude: { path: ['^dist/', '^node_modules/'] },
    // Keep type-only imports in the graph: they still couple layers.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
