/** @jest-config-loader esbuild-register */
import type { Config } from 'jest';

/**
 * Jest configuration. @middy/core 6 ships ESM only, so ts-jest transpiles it (and our TS) to
 * CommonJS for Jest. Jest reads this file through esbuild-register (the docblock above), so it
 * needs no ts-node.
 */
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.[cm]?[tj]s$': [
      'ts-jest',
      {
        tsconfig: {
          module: 'commonjs',
          moduleResolution: 'node',
          allowJs: true,
          esModuleInterop: true,
          target: 'ES2022',
        },
      },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|jose)/)'],
  setupFiles: ['<rootDir>/test/setup-env.ts'],
  setupFilesAfterEnv: ['aws-sdk-client-mock-jest'],
  testTimeout: 60_000,
  maxWorkers: 2,
};

export default config;
