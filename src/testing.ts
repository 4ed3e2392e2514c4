/** `kiln-engine/testing`: an in-memory Kiln for workflow unit tests (time-skipping, no server). */
export { createTestEnv, TestEnv, type TestEnvOptions, type TestStartOptions } from "./testing/test-env.ts";
