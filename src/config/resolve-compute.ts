import type { z } from "zod";
import { KilnError } from "../errors.ts";
import {
  ADAPTER_NAMES,
  type cloudflareSettingsSchema,
  type dockerSettingsSchema,
  type workerAdaptersSchema,
  type workflowSettingsSchema,
} from "./compute-schema.ts";

/** A compute adapter's name. */
export type ComputeAdapterName = (typeof ADAPTER_NAMES)[number];

/** How the docker adapter runs containers (see DockerAdapterOptions). */
export interface ResolvedDockerSettings {
  readonly cli: string | null;
  readonly cliArgs: readonly string[];
  readonly runArgs: readonly string[];
  readonly nodeImage: string | null;
  readonly pythonImage: string | null;
  readonly rootfs: string | null;
}

/** The Cloudflare account of the cloudflare adapter (the token may hold `${secret:NAME}`). */
export interface ResolvedCloudflareSettings {
  readonly accountId: string;
  readonly apiToken: string;
}

/** Settings of one workflow under `workflows:`. */
export interface ResolvedWorkflowSettings {
  readonly adapter: ComputeAdapterName | null;
}

/** The compute part of `worker:`, defaulted. */
export function resolveWorkerCompute(
  w: Readonly<{
    adapters?: z.output<typeof workerAdaptersSchema> | undefined;
    docker?: z.output<typeof dockerSettingsSchema> | undefined;
    cloudflare?: z.output<typeof cloudflareSettingsSchema> | undefined;
  }>,
): {
  adapters: readonly ComputeAdapterName[];
  docker: ResolvedDockerSettings;
  cloudflare: ResolvedCloudflareSettings | null;
} {
  const d = w.docker ?? {};
  return {
    adapters: [...new Set<ComputeAdapterName>(w.adapters ?? ["exec"])],
    docker: {
      cli: d.cli ?? null,
      cliArgs: [...(d.cli_args ?? [])],
      runArgs: [...(d.run_args ?? [])],
      nodeImage: d.node_image ?? null,
      pythonImage: d.python_image ?? null,
      rootfs: d.rootfs ?? null,
    },
    cloudflare: w.cloudflare ? { accountId: w.cloudflare.account_id, apiToken: w.cloudflare.api_token } : null,
  };
}

/** `workflows:` by name, defaulted. */
export function resolveWorkflowSettings(
  input: z.output<typeof workflowSettingsSchema> | undefined,
): Record<string, ResolvedWorkflowSettings> {
  const out: Record<string, ResolvedWorkflowSettings> = {};
  for (const [name, settings] of Object.entries(input ?? {})) out[name] = { adapter: settings.adapter ?? null };
  return out;
}

/** Parses `--adapter exec,cloudflare`; INVALID_INPUT names the unknown one. */
export function parseAdapterList(text: string): ComputeAdapterName[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of names) {
    if (!(ADAPTER_NAMES as readonly string[]).includes(name)) {
      throw new KilnError(
        "INVALID_INPUT",
        `Unknown compute adapter "${name}" (--adapter); the adapters are ${ADAPTER_NAMES.join(", ")}`,
      );
    }
  }
  if (names.length === 0)
    throw new KilnError("INVALID_INPUT", `Expected --adapter to name one or more of ${ADAPTER_NAMES.join(", ")}`);
  return [...new Set(names)] as ComputeAdapterName[];
}
