import { conditionNode } from "./condition.ts";
import { emailReceiveNode } from "./email-receive.ts";
import { emailSendNode } from "./email-send.ts";
import { forEachNode } from "./for-each.ts";
import { httpRequestNode } from "./http-request.ts";
import { llmNode } from "./llm.ts";
import type { FlowNodeType } from "./node-api.ts";
import { parallelNode } from "./parallel.ts";
import { scriptNode } from "./script.ts";
import { sleepNode } from "./sleep.ts";
import { storageDeleteNode, storageGetNode, storageListNode, storagePutNode } from "./storage-nodes.ts";
import { taskNode, workflowNode } from "./task.ts";
import { transformNode } from "./transform.ts";
import { waitForEventNode } from "./wait-for-event.ts";

/** The node types Kiln ships (DESIGN.md §6), in documentation order. */
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
  storagePutNode,
  storageGetNode,
  storageListNode,
  storageDeleteNode,
  emailReceiveNode,
]);
