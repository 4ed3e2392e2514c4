import { conditionNode } from "./condition.ts";
import { emailReceiveNode } from "./email-receive.ts";
import { emailSendNode } from "./email-send.ts";
import { forEachNode } from "./for-each.ts";
import { httpRequestNode } from "./http-request.ts";
import { agentNode } from "./agent.ts";
import { embedNode } from "./embed.ts";
import { llmNode } from "./llm.ts";
import type { FlowNodeType } from "./node-api.ts";
import { parallelNode } from "./parallel.ts";
import { ragAnswerNode } from "./rag-answer.ts";
import { scriptNode } from "./script.ts";
import { sleepNode } from "./sleep.ts";
import { storageDeleteNode, storageGetNode, storageListNode, storagePutNode } from "./storage-nodes.ts";
import { taskNode, workflowNode } from "./task.ts";
import { transformNode } from "./transform.ts";
import { vectorQueryNode, vectorUpsertNode } from "./vector-nodes.ts";
import { waitForEventNode } from "./wait-for-event.ts";

/** The node types Kiln ships (docs/flows.md), in documentation order. */
export const NODE_LIBRARY: readonly FlowNodeType[] = Object.freeze([
  scriptNode,
  taskNode,
  httpRequestNode,
  transformNode,
  conditionNode,
  sleepNode,
  waitForEventNode,
  workflowNode,
  forEachNode,
  parallelNode,
  emailSendNode,
  llmNode,
  agentNode,
  embedNode,
  vectorUpsertNode,
  vectorQueryNode,
  ragAnswerNode,
  storagePutNode,
  storageGetNode,
  storageListNode,
  storageDeleteNode,
  emailReceiveNode,
]);
