import { validateDeployment } from "../deploy-validation.ts";
import { z } from "zod";
import { applyFlowTrigger } from "../flow-trigger.ts";
import { KilnError } from "../../errors.ts";
import { COMPUTE_ADAPTERS, type ComputeAdapterName } from "../../store/control-store.ts";
import { type DeclaredVersion, declaredVersion } from "../../runtimes/declared-version.ts";
import { flowSchedule, syncFlowSchedule } from "../flow-schedules.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { DeploymentInfoSchema, pageOf, RuntimeSchema } from "../api-schemas.ts";

/**
 * The version a deploy gets: the one asked for, else the one the source declares. Both given
 * and different is INVALID_INPUT naming both, since either may be the stale one.
 */
function deployVersion(name: string, asked: string | undefined, declared: DeclaredVersion | undefined) {
  if (asked !== undefined && declared !== undefined && asked !== declared.version) {
    throw new KilnError(
      "INVALID_INPUT",
      `Workflow "${name}": the deploy asks for version ${asked} (--version) but ${declared.where} says ${declared.version}; make them agree, or drop one of them`,
      { data: { version: asked, declaredVersion: declared.version } },
    );
  }
  return asked ?? declared?.version;
}

const WorkflowSummarySchema = DeploymentInfoSchema.extend({
  versions: z.number().int().describe("How many versions are deployed"),
});
const WorkflowDeploymentSchema = DeploymentInfoSchema.extend({ source: z.string() });
const NameParams = z.object({ name: z.string().min(1).max(128) });
const VersionParams = NameParams.extend({ version: z.string().min(1).max(64) });
const ForceQuery = z.object({
  force: z
    .enum(["true", "false", "1", "0"])
    .optional()
    .describe("Delete even while runs are in flight: they are cancelled first (default false: 409 WORKFLOW_IN_USE)"),
});
const DeletedSchema = z.object({
  name: z.string(),
  versions: z.array(z.string()).describe("The versions deleted, newest first"),
  cancelledRunIds: z.array(z.string()).describe("In-flight runs a forced delete cancelled"),
});

/** Workflow deployments: deploy source with a version and content hash, list, versions, get. */
export const workflowRoutes: readonly ApiRoute[] = [
  defineRoute({
    method: "POST",
    path: "/v1/workflows",
    operationId: "deployWorkflow",
    summary: "Deploy a workflow version (identical source to the latest version is a no-op)",
    tag: "workflows",
    access: ACCESS.deploy,
    body: z.strictObject({
      name: z.string().min(1).max(128),
      source: z.string().min(1).describe("The workflow's source text (JS/TS, Python, or a YAML flow)"),
      runtime: RuntimeSchema.optional().describe("Default node"),
      version: z
        .string()
        .min(1)
        .max(64)
        .optional()
        .describe(
          "Default: the version the source declares (defineWorkflow({ version }), a flow's metadata.version), else the next integer version; one that differs from the source's is refused",
        ),
      description: z.string().max(2000).optional(),
      adapter: z
        .string()
        .optional()
        .describe(
          `Only workers whose compute adapter is this one run it: ${COMPUTE_ADAPTERS.join(", ")} (default: any worker)`,
        ),
    }),
    responses: {
      201: {
        description: "A new version was deployed",
        schema: z.object({ name: z.string(), version: z.string(), contentHash: z.string(), created: z.boolean() }),
      },
      200: { description: "The source was already deployed as this version (created: false)" },
    },
    async handle({ body, auth, c, deps }) {
      if (body.adapter !== undefined && !(COMPUTE_ADAPTERS as readonly string[]).includes(body.adapter)) {
        throw new KilnError(
          "INVALID_INPUT",
          `Unknown compute adapter "${body.adapter}"; the adapters are ${COMPUTE_ADAPTERS.join(", ")}`,
        );
      }
      if (body.adapter !== undefined && body.runtime === "flow") {
        throw new KilnError(
          "INVALID_INPUT",
          `Flow ${body.name} runs inside the worker, not in a host process: a compute adapter does not apply; deploy it without --adapter`,
        );
      }
      if (body.adapter === "cloudflare" && body.runtime === "python") {
        throw new KilnError(
          "INVALID_INPUT",
          `Workflow ${body.name} is Python, and Cloudflare Workers run JavaScript only: deploy it for exec or docker`,
        );
      }
      await validateDeployment({ name: body.name, runtime: body.runtime ?? "node", source: body.source });
      const version = deployVersion(body.name, body.version, declaredVersion(body.source, body.runtime ?? "node"));
      // A flow's `trigger:` schedule is checked before the deploy, so a bad one refuses it.
      const schedule = body.runtime === "flow" ? flowSchedule(body.source, body.name) : undefined;
      const { deployment, created } = await deps.store.deployWorkflow({
        namespace: auth.namespace,
        name: body.name,
        source: body.source,
        runtime: body.runtime ?? "node",
        ...(version === undefined ? {} : { version }),
        ...(body.description === undefined ? {} : { description: body.description }),
        ...(body.adapter === undefined ? {} : { adapter: body.adapter as ComputeAdapterName }),
      });
      if (deployment.runtime === "flow") {
        await applyFlowTrigger(deps.store, { namespace: auth.namespace, name: deployment.name, source: body.source });
      }
      if (body.runtime === "flow") await syncFlowSchedule(deps.store, auth.namespace, body.name, schedule);
      if (created) deps.claims.notifyDeployed(auth.namespace);
      const result = {
        name: deployment.name,
        version: deployment.version,
        contentHash: deployment.contentHash,
        runtime: deployment.runtime,
        ...(deployment.adapter === undefined ? {} : { adapter: deployment.adapter }),
        created,
      };
      return c.json(result, created ? 201 : 200);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/workflows",
    operationId: "listWorkflows",
    summary: "List deployed workflows: the latest version of each, with its version count",
    tag: "workflows",
    access: ACCESS.readWorkflows,
    query: z.object({
      limit: z.coerce.number().int().min(1).max(1000).optional(),
      cursor: z.string().optional(),
      q: z
        .string()
        .max(200)
        .optional()
        .describe("Only workflows whose name or description contains this text (case-insensitive)"),
    }),
    responses: { 200: { description: "A page of workflows by name", schema: pageOf(WorkflowSummarySchema) } },
    async handle({ query, auth, c, deps }) {
      const page = await deps.store.listWorkflows({
        namespace: auth.namespace,
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
        ...(query.q === undefined ? {} : { search: query.q }),
      });
      return c.json({ items: page.workflows, nextCursor: page.nextCursor });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/workflows/:name",
    operationId: "getWorkflow",
    summary: "Get the latest version of a workflow with its source",
    tag: "workflows",
    access: ACCESS.readWorkflows,
    params: NameParams,
    responses: { 200: { description: "The latest version", schema: WorkflowDeploymentSchema } },
    async handle({ params, auth, c, deps }) {
      const found = await deps.store.getWorkflow({ namespace: auth.namespace, name: params.name });
      if (!found)
        throw new KilnError(
          "WORKFLOW_NOT_FOUND",
          `No workflow "${params.name}" is deployed in namespace "${auth.namespace}"`,
        );
      return c.json(found);
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/workflows/:name/versions",
    operationId: "listWorkflowVersions",
    summary: "List every deployed version of a workflow, newest first",
    tag: "workflows",
    access: ACCESS.readWorkflows,
    params: NameParams,
    responses: { 200: { description: "The versions (without source)", schema: pageOf(DeploymentInfoSchema) } },
    async handle({ params, auth, c, deps }) {
      const items = await deps.store.listWorkflowVersions({ namespace: auth.namespace, name: params.name });
      if (items.length === 0) {
        throw new KilnError(
          "WORKFLOW_NOT_FOUND",
          `No workflow "${params.name}" is deployed in namespace "${auth.namespace}"`,
        );
      }
      return c.json({ items, nextCursor: null });
    },
  }),
  defineRoute({
    method: "GET",
    path: "/v1/workflows/:name/versions/:version",
    operationId: "getWorkflowVersion",
    summary: "Get one version of a workflow with its source",
    tag: "workflows",
    access: ACCESS.readWorkflows,
    params: VersionParams,
    responses: { 200: { description: "The version", schema: WorkflowDeploymentSchema } },
    async handle({ params, auth, c, deps }) {
      const found = await deps.store.getWorkflow({
        namespace: auth.namespace,
        name: params.name,
        version: params.version,
      });
      if (!found) {
        throw new KilnError(
          "WORKFLOW_NOT_FOUND",
          `Workflow "${params.name}" has no version ${params.version} in namespace "${auth.namespace}"`,
        );
      }
      return c.json(found);
    },
  }),
  ...(["workflow", "version"] as const).map((what) =>
    defineRoute({
      method: "DELETE",
      path: what === "workflow" ? "/v1/workflows/:name" : "/v1/workflows/:name/versions/:version",
      operationId: what === "workflow" ? "deleteWorkflow" : "deleteWorkflowVersion",
      summary:
        what === "workflow"
          ? "Delete a workflow (every version); 409 WORKFLOW_IN_USE while runs of it are in flight, unless force=true, which cancels them"
          : "Delete one version of a workflow; 409 WORKFLOW_IN_USE while runs pinned to it are in flight, unless force=true, which cancels them",
      tag: "workflows",
      access: ACCESS.deploy,
      params: what === "workflow" ? NameParams : VersionParams,
      query: ForceQuery,
      responses: { 200: { description: "Deleted", schema: DeletedSchema } },
      async handle({ params, query, auth, c, deps }) {
        const version = "version" in params ? (params.version as string) : undefined;
        const result = await deps.store.deleteWorkflow({
          namespace: auth.namespace,
          name: params.name,
          ...(version === undefined ? {} : { version }),
          force: query.force === "true" || query.force === "1",
        });
        deps.logger.info(
          { namespace: auth.namespace, ...result, by: auth.principal.tokenId },
          version === undefined ? "workflow deleted" : "workflow version deleted",
        );
        return c.json(result);
      },
    }),
  ),
];
