// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${VAR} syntax appears in plain strings on purpose.
import { z } from "zod";

/** The compute adapters a worker can run hosts with (the store's list, kept in one place there). */
export const ADAPTER_NAMES = ["exec", "docker", "cloudflare"] as const;

const adapterName = z.enum(ADAPTER_NAMES, { error: 'one of "exec", "docker", "cloudflare"' });

/** `worker.adapters`: the compute adapters of the worker; the first runs workflows deployed for any. */
export const workerAdaptersSchema = z
  .array(adapterName)
  .min(1)
  .describe(
    'Compute adapters this worker runs deployed workflows with (default ["exec"]); the first also runs workflows deployed without an adapter',
  );

/** `worker.docker`: how the docker adapter starts containers. */
export const dockerSettingsSchema = z
  .strictObject({
    cli: z
      .string()
      .min(1)
      .optional()
      .describe("The Docker-compatible CLI: docker (default), podman, or a path; env KILN_DOCKER_CLI overrides it"),
    cli_args: z
      .array(z.string())
      .optional()
      .describe("Arguments before the subcommand, e.g. podman's [--runtime, runc]"),
    run_args: z
      .array(z.string())
      .optional()
      .describe("Extra `run` arguments: [--memory=512m, --cpus=1, --network=none]"),
    node_image: z.string().min(1).optional().describe("Image of Node hosts (default node:<major>-slim)"),
    python_image: z.string().min(1).optional().describe("Image of Python hosts (default python:3.12-slim)"),
    rootfs: z
      .string()
      .min(1)
      .optional()
      .describe("podman only: a directory used as the container's root (an overlay over it) instead of an image"),
  })
  .describe("Settings of the docker compute adapter");

/** `worker.cloudflare`: the account Workers are uploaded to; absent: a local workerd (miniflare). */
export const cloudflareSettingsSchema = z
  .strictObject({
    account_id: z.string().min(1).describe("Cloudflare account id"),
    api_token: z
      .string()
      .min(1)
      .describe('API token allowed to edit Workers scripts (usually "${secret:CLOUDFLARE_API_TOKEN}")'),
  })
  .describe(
    "The Cloudflare account of the cloudflare adapter (default: Workers run locally in workerd through miniflare)",
  );

/** `workflows`: per-workflow settings, by name. */
export const workflowSettingsSchema = z
  .record(
    z.string().min(1),
    z
      .strictObject({
        adapter: adapterName
          .optional()
          .describe("The compute adapter `kiln deploy` deploys it for when -a is not given"),
      })
      .describe("Settings of one deployed workflow"),
  )
  .describe("Per-workflow settings, by workflow name");
