// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Kiln's ${…} expression syntax appears in plain strings on purpose.
import { z } from "zod";
import { scheduleShorthandSchema } from "../../config/schedule-schema.ts";

/**
 * The zod schemas of a YAML flow file (docs/flows.md): the single source of the file format's
 * validation and of `schema/flow.schema.json` (scripts/gen-flow-schema.ts). Keys are snake_case
 * as users write them; flow-load.ts turns them into the resolved, millisecond-based FlowDefinition.
 * Messages given here are expectation phrases: the validator prints `Expected "<key>" to be <phrase>`.
 */

/** Node ids and action names: usable in `nodes.<id>` expressions and as YAML keys. */
export const NODE_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const DURATION_PATTERN = /^\s*(\d+(\.\d+)?\s*(ms|sec|min|s|m|h|d|w)\s*)+$|^\s*\d+(\.\d+)?\s*$/;
const ID_PHRASE = 'a node id (letters, digits, "_" and "-", not starting with a digit)';

const nodeId = z.string({ error: ID_PHRASE }).regex(NODE_ID_PATTERN, ID_PHRASE);
const actionName = z
  .string()
  .regex(NODE_ID_PATTERN, 'an action name (letters, digits, "_" and "-", not starting with a digit)');

/** A human duration (`"30s"`, `"5m"`, `"1h30m"`) or a number of milliseconds. */
export const durationSchema = z
  .union([
    z.string().regex(DURATION_PATTERN, 'a duration like "30s", "5m" or "1h30m"'),
    z.number({ error: "a number of milliseconds" }).nonnegative("a number of milliseconds"),
  ])
  .describe('A duration like "30s", "5m", "1h30m", or a number of milliseconds');

const targetsSchema = z.union([nodeId, z.array(nodeId, { error: "a list of node ids" }).min(1)]);

/** Where to go after a node: one node, a fan-out list, or a map of action → node(s). */
export const nextSchema = z
  .union([
    nodeId,
    z.array(nodeId, { error: "a list of node ids" }).min(1),
    z.record(actionName, targetsSchema, { error: "a mapping of action to node id(s)" }),
  ])
  .describe(
    "The nodes to run after this one: a node id, a list (fan-out), or a map of action (default, error, or an action the node returns) to node id(s)",
  );

/** How a node is retried after a failed attempt. */
export const retrySchema = z
  .strictObject({
    max_attempts: z.int().min(1).optional().describe("Total attempts including the first (default 1: no retry)"),
    initial_interval: durationSchema.optional().describe("Delay before the first retry (default 1s)"),
    max_interval: durationSchema.optional().describe("Longest delay between retries (default 60s)"),
    backoff_coefficient: z.number().min(1).optional().describe("Multiplier of the delay after each retry (default 2)"),
    jitter: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("Fraction of the delay added or removed at random (default 0)"),
    non_retryable_errors: z.array(z.string()).optional().describe("Error codes that are never retried"),
  })
  .describe("Retry policy of the node");

const predicateSchema = z
  .union([z.string(), z.boolean()])
  .describe("Run the node only when this is truthy: a JavaScript expression, or a ${…} template");

const paramsSchema = z
  .record(z.string(), z.unknown(), { error: "a mapping of parameters" })
  .describe("Parameters of the node type; strings may contain ${…} expressions");

/** An inline compensation: a node run to undo this one when the run fails or is cancelled. */
export const compensationSchema = z
  .strictObject({
    name: z.string().optional().describe("Display name"),
    description: z.string().optional(),
    type: z.string().min(1).describe("Node type of the compensation"),
    params: paramsSchema.optional(),
    retry: retrySchema.optional(),
    timeout: durationSchema.optional().describe("Time limit of one attempt"),
  })
  .describe("A node run to undo this one (saga)");

const compensateSchema = z
  .union([nodeId, compensationSchema])
  .describe("The compensation of this node: a node id or an inline node");

/** One node of the `nodes:` map. */
export const nodeSchema = z
  .strictObject({
    name: z.string().optional().describe("Display name"),
    description: z.string().optional(),
    type: z
      .string({ error: "a node type" })
      .min(1, "a node type")
      .optional()
      .describe(
        "Node type: script (alias run), task, http.request, transform, condition, sleep, … or a plugin type (default script when `run` is given)",
      ),
    run: z.string().optional().describe("Shell command: shorthand for type script with params.run"),
    params: paramsSchema.optional(),
    next: nextSchema.optional(),
    retry: retrySchema.optional(),
    timeout: durationSchema.optional().describe("Time limit of one attempt"),
    needs: z
      .array(nodeId, { error: "a list of node ids" })
      .optional()
      .describe("Join: run once every listed node has finished"),
    when: predicateSchema.optional(),
    compensate: compensateSchema.optional(),
  })
  .superRefine((node, ctx) => {
    if (node.type === undefined && node.run === undefined) {
      ctx.addIssue({ code: "custom", path: ["type"], message: 'Missing required key "type" (or "run")' });
    }
    if (node.run !== undefined && node.type !== undefined && node.type !== "script" && node.type !== "run") {
      ctx.addIssue({
        code: "custom",
        path: ["run"],
        message: `"run" makes a script node; it cannot be a ${node.type}`,
      });
    }
  })
  .describe("A node of the flow graph");

/** One item of the `steps:` shorthand (GitHub Actions / Dagu style): sequential unless `needs`. */
export const stepSchema = z
  .strictObject({
    id: nodeId.optional().describe("Id used in routes and in nodes.<id> expressions (default: name, or step_<n>)"),
    name: z.string().optional().describe("Display name; also the id when it is a valid id and `id` is absent"),
    description: z.string().optional(),
    type: z.string().min(1, "a node type").optional().describe("Node type (default script when `run` is given)"),
    run: z.string().optional().describe("Shell command: shorthand for type script with params.run"),
    params: paramsSchema.optional(),
    with: paramsSchema.optional().describe("Alias of params"),
    next: nextSchema.optional(),
    retry: retrySchema.optional(),
    timeout: durationSchema.optional().describe("Time limit of one attempt"),
    needs: z
      .array(nodeId, { error: "a list of step ids" })
      .optional()
      .describe("Run after these steps instead of after the previous one"),
    depends: z.array(nodeId, { error: "a list of step ids" }).optional().describe("Alias of needs (Dagu)"),
    when: predicateSchema.optional(),
    if: predicateSchema.optional().describe("Alias of when (GitHub Actions)"),
    compensate: compensateSchema.optional(),
  })
  .superRefine((step, ctx) => {
    if (step.type === undefined && step.run === undefined) {
      ctx.addIssue({ code: "custom", path: ["type"], message: 'Missing required key "type" (or "run")' });
    }
    if (step.run !== undefined && step.type !== undefined && step.type !== "script" && step.type !== "run") {
      ctx.addIssue({
        code: "custom",
        path: ["run"],
        message: `"run" makes a script step; it cannot be a ${step.type}`,
      });
    }
    const aliases = [
      ["params", "with"],
      ["needs", "depends"],
      ["when", "if"],
    ] as const;
    for (const [key, alias] of aliases) {
      if (step[key] !== undefined && step[alias] !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: [alias],
          message: `Give either "${key}" or its alias "${alias}", not both`,
        });
      }
    }
  })
  .describe("A step: sequential after the previous step unless it has needs");

/** `metadata:` of a flow. */
export const metadataSchema = z
  .strictObject({
    name: z.string().min(1).optional().describe("Workflow name (default: the name given to kiln deploy)"),
    description: z.string().optional(),
    version: z.union([z.string(), z.number()]).optional().describe("Version label of this definition"),
    schedule: scheduleShorthandSchema.optional(),
  })
  .describe("Name, description and version of the flow");

/** `trigger.webhook:` of a flow: an incoming webhook that starts this flow, made when it is deployed. */
export const flowWebhookTriggerSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "letters, digits, _ . - (starting with a letter or digit)")
      .optional()
      .describe("The webhook's name: POST /hooks/<namespace>/<name> (default: the flow's name)"),
    secret_from: z.string().min(1).describe("The Kiln secret holding the signing key"),
    scheme: z
      .enum(["standard", "github"])
      .optional()
      .describe("standard (Standard Webhooks headers, default) or github (X-Hub-Signature-256)"),
    input: z
      .record(z.string(), z.unknown())
      .optional()
      .describe("The run input: ${…} expressions over input.body, input.headers, input.query (default: the body)"),
  })
  .describe("Start this flow from a signed webhook");

/** The keys of a flow file besides `nodes` and `steps`. */
export const flowHeaderSchema = z.strictObject({
  $schema: z.string().optional().describe("JSON Schema of this file, for editors"),
  metadata: metadataSchema.optional(),
  trigger: z
    .strictObject({
      webhook: flowWebhookTriggerSchema.optional(),
      schedule: scheduleShorthandSchema.optional(),
      cron: scheduleShorthandSchema.optional().describe("FlowRunner's name of `schedule`"),
    })
    .optional()
    .describe("What starts this flow besides `kiln start`: a webhook, a schedule (deployed with the flow)"),
  params: z
    .record(z.string(), z.unknown(), { error: "a JSON Schema (a mapping)" })
    .optional()
    .describe("JSON Schema of the flow input"),
  max_visits: z
    .int({ error: "a positive whole number" })
    .min(1, "a positive whole number")
    .default(100)
    .describe("How many times one node may run in a run before it fails (cycles through next)"),
});

/** A whole flow file: a `nodes` map or a `steps` list (exactly one of them). */
export const flowFileSchema = flowHeaderSchema
  .extend({
    nodes: z
      .record(nodeId, nodeSchema, { error: "a mapping of node id to node" })
      .optional()
      .describe("The nodes of the graph, by id"),
    steps: z
      .array(stepSchema, { error: "a list of steps" })
      .min(1)
      .optional()
      .describe("Shorthand for a graph: steps run in order unless they have needs"),
  })
  .superRefine((flow, ctx) => {
    if ((flow.nodes === undefined) === (flow.steps === undefined)) {
      ctx.addIssue({ code: "custom", path: [], message: 'A flow has exactly one of "nodes" or "steps"' });
    }
  })
  .describe("A Kiln YAML flow: a graph of named nodes, or a list of steps");

/** A node after the `run:` shorthand is folded in: it always has a type, never `run`. */
export type NodeSpec = Omit<z.output<typeof nodeSchema>, "type" | "run"> & { type: string };
/** A step as written in the file. */
export type StepSpec = z.output<typeof stepSchema>;
/** An inline compensation as written. */
export type CompensationSpec = z.output<typeof compensationSchema>;
/** The `next` of a node as written. */
export type NextSpec = z.output<typeof nextSchema>;
/** The `retry` of a node as written. */
export type RetrySpec = z.output<typeof retrySchema>;
/** The header of a flow file as written (defaults applied). */
export type FlowHeader = z.output<typeof flowHeaderSchema>;
