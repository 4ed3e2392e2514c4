import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { startSpan, tracingOn } from "./spans.ts";
import { startTracing, tracingRequested } from "./start-tracing.ts";

describe("tracing switch", () => {
  it("is on only with an OTLP endpoint, and off with OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none", () => {
    assert.equal(tracingRequested({}), false);
    assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }), true);
    assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }), true);
    assert.equal(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }), false);
    assert.equal(
      tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_TRACES_EXPORTER: "none" }),
      false,
    );
  });

  it("creates no spans when no endpoint is configured", async () => {
    const saved = { a: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, b: process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT };
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
    try {
      const stop = await startTracing({ serviceName: "test", version: "0" });
      assert.equal(tracingOn(), false);
      assert.equal(startSpan("nothing"), undefined);
      await stop();
    } finally {
      if (saved.a !== undefined) process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved.a;
      if (saved.b !== undefined) process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT = saved.b;
    }
  });
});
