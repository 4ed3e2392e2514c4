import type { ResolvedPlugin } from "../../config/resolved-config.ts";
import type { SecretResolver } from "./flow-secrets.ts";
import { type NodeTypeRegistry, nodeTypeRegistry } from "../nodes/node-type.ts";
import type { FlowNodeType, FlowServices } from "../nodes/node-api.ts";
import { loadPlugins } from "../nodes/plugins.ts";
import { Sandbox, type SandboxOptions } from "../expressions/sandbox.ts";

/** What the flow interpreter needs from the worker that runs flows. One per worker, shared by runs. */
export interface FlowDeps {
  /** Evaluates `${…}` expressions, conditions and transform scripts. */
  readonly sandbox: Sandbox;
  /** Built-in node types plus plugins. */
  readonly nodeTypes: NodeTypeRegistry;
  /** Resolves a secret of the run's namespace by name (only on the worker that runs the node). */
  readonly resolveSecret?: SecretResolver;
  /** What `env` holds in expressions (default: nothing; never the worker's whole environment by accident). */
  readonly env?: Readonly<Record<string, string>>;
  /** Settings of the nodes that talk to the outside world (fetch, SMTP, model endpoint, scripts). */
  readonly services?: FlowServices;
}

/** Options of createFlowDeps. */
export interface CreateFlowDepsOptions {
  /** Plugin modules from the config (`plugins:`), loaded with loadPlugins. */
  readonly plugins?: readonly ResolvedPlugin[];
  /** Where package-name plugins are resolved from (default: the process's cwd). */
  readonly pluginBaseDir?: string;
  /** Node types given as objects (tests, embedding), besides the plugins. */
  readonly nodeTypes?: readonly FlowNodeType[];
  readonly resolveSecret?: SecretResolver;
  readonly env?: Readonly<Record<string, string>>;
  readonly services?: FlowServices;
  readonly sandbox?: SandboxOptions;
}

/** FlowDeps that own a sandbox: dispose() frees it when the worker stops. */
export interface OwnedFlowDeps extends FlowDeps {
  dispose(): void;
}

/** Builds the flow interpreter's dependencies: a sandbox, the node registry with plugins loaded. */
export async function createFlowDeps(options: CreateFlowDepsOptions = {}): Promise<OwnedFlowDeps> {
  const plugins = await loadPlugins(options.plugins ?? [], { baseDir: options.pluginBaseDir ?? process.cwd() });
  const nodeTypes = nodeTypeRegistry([...plugins, ...(options.nodeTypes ?? [])]);
  const sandbox = await Sandbox.create(options.sandbox);
  return {
    sandbox,
    nodeTypes,
    ...(options.resolveSecret === undefined ? {} : { resolveSecret: options.resolveSecret }),
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.services === undefined ? {} : { services: options.services }),
    dispose: () => sandbox.dispose(),
  };
}
