import type { IncomingMessage } from "node:http";
import type { Context } from "hono";
import type { z } from "zod";
import type { TokenRole } from "../store/control-store.ts";
import type { RequestAuth } from "./auth.ts";
import type { ServerDeps } from "./server-deps.ts";

/** Hono's environment for Kiln's app: node bindings (remote address) and per-request variables. */
export interface AppEnv {
  Bindings: { incoming?: IncomingMessage };
  Variables: { requestId: string; route?: string; auth?: RequestAuth };
}

/** The Hono context of a Kiln request. */
export type AppContext = Context<AppEnv>;

/**
 * Who may call a route. `public`: anyone. Otherwise the token's role must be listed, and the
 * request's namespace must be the token's (scope `namespace`), or the token must act in every
 * namespace (`*`, scope `global`: the route touches more than one namespace).
 */
export type Access =
  | { readonly roles: "public" }
  | {
      readonly roles: readonly TokenRole[];
      readonly scope: "namespace" | "global";
      /** A credential is needed even in loopback-open mode (deploys, secrets, tokens, workers). */
      readonly tokenRequired?: boolean;
    };

/** The access levels routes use (the role matrix of ARCHITECTURE.md "Server, auth, secrets"). */
export const ACCESS = {
  public: { roles: "public" },
  /** Reading runs: every role (a worker reads the runs of its namespace). */
  readRuns: { roles: ["admin", "developer", "viewer", "worker"], scope: "namespace" },
  /** Reading deployed workflow code: every role (a worker fetches the code it executes). */
  readWorkflows: { roles: ["admin", "developer", "viewer", "worker"], scope: "namespace" },
  /** Reading everything else of a namespace. */
  read: { roles: ["admin", "developer", "viewer"], scope: "namespace" },
  /** Starting, cancelling and retrying runs, events. */
  write: { roles: ["admin", "developer"], scope: "namespace" },
  /** Deploying workflow code: code execution, so never without a credential. */
  deploy: { roles: ["admin", "developer"], scope: "namespace", tokenRequired: true },
  /** Secret names and values. */
  secrets: { roles: ["admin", "developer"], scope: "namespace", tokenRequired: true },
  /** Tokens of a namespace. */
  admin: { roles: ["admin"], scope: "namespace", tokenRequired: true },
  /** Creating namespaces and rotating the master key: every namespace at once. */
  globalAdmin: { roles: ["admin"], scope: "global", tokenRequired: true },
  /** Server-wide reads (metrics). */
  globalRead: { roles: ["admin", "developer", "viewer"], scope: "global" },
  /** The remote worker protocol. */
  worker: { roles: ["admin", "worker"], scope: "namespace", tokenRequired: true },
  /** Plaintext secret values for a worker: worker tokens only ("values are never returned" to people). */
  workerSecrets: { roles: ["worker"], scope: "namespace", tokenRequired: true },
} as const satisfies Record<string, Access>;

type Infer<T> = T extends z.ZodType ? z.output<T> : undefined;

/** What a route handler gets: validated params, query and body, the caller, the server. */
export interface RouteInput<P, Q, B> {
  readonly params: Infer<P>;
  readonly query: Infer<Q>;
  readonly body: Infer<B>;
  /** Undefined only on public routes. */
  readonly auth: RequestAuth;
  readonly c: AppContext;
  readonly deps: ServerDeps;
}

/** One documented response of a route. */
export interface RouteResponse {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. */
  readonly mediaType?: string;
  /** The same status may instead be a text/event-stream of these events. */
  readonly stream?: z.ZodType;
}

/** A route as defined in routes/*.ts: Hono path, access, zod schemas, OpenAPI text, handler. */
export interface RouteSpec<P, Q, B> {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Hono path syntax (`/v1/runs/:id`). */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  readonly access: Access;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /**
   * A cheap check for the common bodies of a hot route: true only for bodies `body` accepts
   * unchanged (so the schema is skipped); anything else goes through the schema (and its errors).
   */
  readonly fastBody?: (value: unknown) => boolean;
  readonly responses: Readonly<Record<number, RouteResponse>>;
  /** Also accept the token as `?access_token=` (streams: browsers cannot set their headers). */
  readonly queryToken?: boolean;
  /** Largest accepted body; defaults to the server's API limit. */
  readonly maxBodyBytes?: "api" | "worker";
  handle(input: RouteInput<P, Q, B>): Promise<Response> | Response;
}

/** A route with its types erased, as the app and the OpenAPI builder see it. */
export type ApiRoute = RouteSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>;

/** Defines a route (typing the handler from the schemas). */
export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): ApiRoute {
  return spec as unknown as ApiRoute;
}
