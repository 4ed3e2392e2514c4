import { setTracingOn, takeForcedId } from "./spans.ts";

/** Stops tracing: exports what is buffered. */
export type StopTracing = () => Promise<void>;

/**
 * Whether the environment asks for traces: an OTLP endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), not switched off by `OTEL_SDK_DISABLED=true` or
 * `OTEL_TRACES_EXPORTER=none`.
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === "true") return false;
  if (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() === "none") return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/**
 * Installs the OpenTelemetry SDK when the environment asks for traces (see tracingRequested), and
 * does nothing otherwise: the SDK modules are imported only then, so a process without an endpoint
 * loads none of them. The exporter sends OTLP over HTTP (JSON bodies) and reads the standard
 * variables itself (endpoint, `OTEL_EXPORTER_OTLP_HEADERS`, timeouts); the provider reads the
 * sampler (`OTEL_TRACES_SAMPLER`, `_ARG`) and the resource reads `OTEL_SERVICE_NAME` and
 * `OTEL_RESOURCE_ATTRIBUTES`, with `serviceName` as the default name.
 */
export async function startTracing(p: Readonly<{ serviceName: string; version: string }>): Promise<StopTracing> {
  if (!tracingRequested()) return async () => {};
  const [{ trace, context }, sdk, { OTLPTraceExporter }, resources, { AsyncLocalStorageContextManager }] =
    await Promise.all([
      import("@opentelemetry/api"),
      import("@opentelemetry/sdk-trace-base"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/context-async-hooks"),
    ]);
  const random = new sdk.RandomIdGenerator();
  const resource = resources
    .resourceFromAttributes({ "service.name": p.serviceName, "service.version": p.version })
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new sdk.BasicTracerProvider({
    resource,
    // A run's span has an id derived from the run (spans.ts), so that attempts on other processes
    // can name it as parent; every other span gets random ids.
    idGenerator: {
      generateTraceId: () => takeForcedId("traceId") ?? random.generateTraceId(),
      generateSpanId: () => takeForcedId("spanId") ?? random.generateSpanId(),
    },
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 1000 })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  setTracingOn(true);
  return async () => {
    setTracingOn(false);
    await provider.shutdown().catch(() => {});
    trace.disable();
    context.disable();
  };
}
