import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import noImportCycle from './tools/eslint/no-import-cycle.js';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'notebooks/', 'tools/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { tscluster: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      'tscluster/no-import-cycle': 'error',
      'max-lines-per-function': ['warn', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      // numbers, booleans and null read well in messages
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true, allowRegExp: true }],
      // with noUncheckedIndexedAccess, `xs[i]!` marks an index known to be in range
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // a test suite is one long describe(); its tests are what is short
      'max-lines-per-function': 'off',
      // tests throw non-Errors, await decorated methods (their declared type is the undecorated one),
      // pass static methods around and stub async functions on purpose
      '@typescript-eslint/only-throw-error': 'off',
      '@typescript-eslint/await-thenable': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      '@typescript-eslint/no-dynamic-delete': 'off',
    },
  },
  {
    files: ['eslint.config.js', 'test/fixtures/**'],
    ...tseslint.configs.disableTypeChecked,
  },
  // the dashboard's browser app: plain ES modules served as they are (no build step), so linted as browser
  // JavaScript without type information
  {
    files: ['dashboard/**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'history', 'EventSource', 'fetch', 'URLSearchParams', 'setInterval', 'clearInterval'].map((g) => [
          g,
          'readonly',
        ]),
      ),
    },
  },
);
