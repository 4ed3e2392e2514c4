import type { ResolvedConfig } from "../config/resolved-config.ts";
import { replaceVariables } from "../config/variables.ts";
import type { EmailSettings } from "../flow/nodes/email-send.ts";
import type { LlmSettings } from "../flow/nodes/llm.ts";
import type { FlowServices } from "../flow/nodes/node-api.ts";

/** What a worker gives flows from its config: `env` and the outside services' settings. */
export interface FlowSettings {
  readonly env: Readonly<Record<string, string>>;
  readonly services: FlowServices;
}

/**
 * Builds flows' `env` (config `worker.env` over the passed-through process variables) and the
 * llm/email defaults from `services:`, resolving `${secret:NAME}` references once, when the
 * worker starts: settings are the worker's, not a run's.
 */
export async function resolveFlowSettings(
  config: ResolvedConfig,
  resolveSecret: (name: string) => Promise<string>,
  processEnv: Readonly<Record<string, string | undefined>> = process.env,
): Promise<FlowSettings> {
  const names = new Set<string>();
  const collect = (text: string | undefined) => {
    if (text !== undefined) replaceVariables(text, (ref) => (ref.secret ? (names.add(ref.name), "") : undefined));
  };
  const { llm, email } = config.services;
  for (const value of Object.values(config.worker.env)) collect(value);
  for (const value of [llm.baseUrl, llm.apiKey, llm.model, email.from, email.host, email.username, email.password])
    collect(value);
  const values = new Map<string, string>();
  for (const name of names) values.set(name, await resolveSecret(name));
  const expand = <T extends string | undefined>(text: T): T =>
    (text === undefined ? text : replaceVariables(text, (ref) => (ref.secret ? values.get(ref.name) : undefined))) as T;

  const env: Record<string, string> = {};
  for (const name of config.worker.envPassthrough) {
    const value = processEnv[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(config.worker.env)) env[name] = expand(value);
  return {
    env,
    services: {
      llm: withoutUndefined<LlmSettings>({
        ...llm,
        baseUrl: expand(llm.baseUrl),
        apiKey: expand(llm.apiKey),
        model: expand(llm.model),
      }),
      email: withoutUndefined<EmailSettings>({
        ...email,
        from: expand(email.from),
        host: expand(email.host),
        username: expand(email.username),
        password: expand(email.password),
      }),
    },
  };
}

function withoutUndefined<T extends object>(o: object): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
