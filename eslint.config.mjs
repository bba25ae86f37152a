import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'cdk.out/**',
      'dist/**',
      'examples/*/node_modules/**',
      'examples/*/cdk.out/**',
      '.rehearsal/**',
      '.bench/**',
      'coverage/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The dependency rule of docs/architecture.md: steps see only the domain and the ports.
    files: ['lambdas/steps/**/*.ts', 'lambdas/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@aws-sdk/*', 'pg', '../aws/*', '../handlers/*', '../../local/*', '../../infra/*'] },
      ],
      'no-restricted-globals': ['error', 'process'],
    },
  },
);
