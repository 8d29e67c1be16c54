/**
 * Jest runs the TypeScript sources as native ESM (the CEL engine and jose are ESM-only).
 * @swc/jest strips types only; `npm test` type-checks with tsc first.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts', '<rootDir>/authz/**/*.test.ts', '<rootDir>/generator/**/*.test.ts'],
  testTimeout: 30000,
};
