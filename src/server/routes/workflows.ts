import { validateDeployment } from "../deploy-validation.ts";
import { z } from "zod";
import { KilnError } from "../../errors.ts";
import { ACCESS, type ApiRoute, defineRoute } from "../api-route.ts";
import { DeploymentInfoSchema, pageOf, RuntimeSchema } from "../api-schemas.ts";

const WorkflowSummarySchema = DeploymentInfoSchema.extend({
  versions: z.number().int().describe("How many versions are deployed"),
});
const WorkflowDeploymentSchema = DeploymentInfoSchema.extend({ source: z.string() });
const NameParams = z.object({ name: z.string().min(1).max(128) });

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
      version: z.string().min(1).max(64).optional().describe("Default: the next integer version"),
      description: z.string().max(2000).optional(),
    }),
    responses: {
      201: {
        description: "A new version was deployed",
        schema: z.object({ name: z.string(), version: z.string(), contentHash: z.string(), created: z.boolean() }),
      },
      200: { description: "The source was already deployed as this version (created: false)" },
    },
    async handle({ body, auth, c, deps }) {
      await validateDeployment({ name: body.name, runtime: body.runtime ?? "node", source: body.source });
      const { deployment, created } = await deps.store.deployWorkflow({
        namespace: auth.namespace,
        name: body.name,
        source: body.source,
        runtime: body.runtime ?? "node",
        ...(body.version === undefined ? {} : { version: body.version }),
        ...(body.description === undefined ? {} : { description: body.description }),
      });
      if (created) deps.claims.notifyDeployed(auth.namespace);
      const result = {
        name: deployment.name,
        version: deployment.version,
        contentHash: deployment.contentHash,
        runtime: deployment.runtime,
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
    }),
    responses: { 200: { description: "A page of workflows by name", schema: pageOf(WorkflowSummarySchema) } },
    async handle({ query, auth, c, deps }) {
      const page = await deps.store.listWorkflows({
        namespace: auth.namespace,
        ...(query.limit === undefined ? {} : { limit: query.limit }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
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
    params: NameParams.extend({ version: z.string().min(1).max(64) }),
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
];
