/**
 * `kiln-engine/client`: the typed HTTP client of a Kiln server, generated from its OpenAPI
 * document (openapi-typescript types, openapi-fetch calls), with run handles whose `result()`
 * waits on the server's stream.
 */
export type {
  components as ApiComponents,
  operations as ApiOperations,
  paths as ApiPaths,
} from "./client/api-types.ts";
export {
  type ApiRun,
  type ApiRunWithSteps,
  type ApiSchemas,
  createKilnClient,
  KilnClient,
  type KilnClientOptions,
  RunHandle,
  type StartRunBody,
} from "./client/kiln-client.ts";
