// ESLint flat config (`npm run lint:code` = `eslint .`). Not type-aware on purpose: it stays fast, and `npm run typecheck`
// already runs the compiler. Formatting is prettier's job (`npm run format:check`); eslint-config-prettier, last, turns
// off every stylistic rule that could disagree with it.
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig([
  globalIgnores(['dist/', 'node_modules/', '.data/', '.bench/', '.tap/', 'coverage/', 'openapi/']),

  {
    name: 'tessera/typescript',
    files: ['src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'error',
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          caughtErrors: 'none',
        },
      ],
      '@typescript-eslint/no-explicit-any': 'error',
      // Input validation deliberately matches control characters (e.g. displayName in src/http/schemas.ts refuses
      // \u0000-\u001f): in this code base a control character in a regex is intended, not a typo.
      'no-control-regex': 'off',
    },
  },

  {
    // Tests and the bench read JSON bodies of any shape; typing each one would only restate the response schemas.
    name: 'tessera/json-bodies-outside-src',
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },

  {
    // The server logs through pino (src/infra/logger.ts); only the CLI talks to the terminal.
    name: 'tessera/no-console-in-server',
    files: ['src/**/*.ts'],
    ignores: ['src/cli.ts'],
    rules: {
      'no-console': 'error',
    },
  },

  {
    // The repo's own JavaScript config files (eslint.config.js, .dependency-cruiser.cjs).
    name: 'tessera/config-files',
    files: ['*.js', '*.cjs', '*.mjs'],
    extends: [js.configs.recommended],
  },

  prettier,
]);
