/** @type {import('jest').Config} */
module.exports = {
  rootDir: '.',
  testEnvironment: 'node',
  testRegex: 'test/.*\\.(spec|e2e-spec)\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60_000,
  maxWorkers: 2,
  // Each test file loads its own copy of Nest, MikroORM and the app, and what a worker keeps grew file
  // after file to 1.1–1.4 GB by the end of a run. Tearing that heap down took longer than Jest's 500 ms
  // grace, so Jest printed "A worker process has failed to exit gracefully" and killed both workers.
  // A worker above 512 MB after a file is replaced: the heap it ends with stays smaller, and the run is
  // no slower (188 s, not 207).
  workerIdleMemoryLimit: '512MB',
  // After Jest's end message a worker reaches its 'exit' event within a millisecond, with nothing open
  // but its stdio pipes; the process itself then took 200–950 ms more to end (its heap a few hundred
  // MB), measured from Jest's side in this suite. The default grace of 500 ms made that an
  // intermittent "failed to exit gracefully" warning and a SIGTERM; a worker that really hangs is
  // still killed, after 5 s.
  workerGracefulExitTimeout: 5000,
};
