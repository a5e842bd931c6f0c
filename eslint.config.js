// Lint: typescript-eslint's recommended rules plus a few that keep the layers honest.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bin/**', 'test/run.mjs', '.ci/**', '.tmp/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': 'off',
    },
  },
  {
    // src/core is the pure domain: no Bolt, execa, SQLite or environment access.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['@slack/bolt', 'execa', 'better-sqlite3', 'node-cron'],
        patterns: ['../store/*', '../adapters/*', '../slack/*', '../cli/*', '../../store/*', '../../adapters/*'],
      }],
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'core receives configuration; only src/main.ts reads the environment' }],
    },
  },
);
