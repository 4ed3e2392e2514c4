/**
 * Kiln's main job on the embedded store, end to end: durable workflows with memoized steps, a
 * durable sleep, an event wait, a child task and a saga compensation, on `.kiln/kiln.db`.
 * Run: `npm run example` (prints each run with its steps).
 */
import { Kiln, KilnError } from "../src/index.ts";

const kiln = await Kiln.open({ db: process.env.KILN_DB ?? ".kiln/kiln.db", worker: { pollIntervalMs: 50 } });

// The README shape, unchanged.
kiln.workflow("hello", async function workflow(input: { name: string }, { step, sleep }) {
  const greeting = await step("greet", () => `Hello, ${input.name}!`);
  await sleep("wait", 2000);
  return await step("complete", () => ({ message: greeting }));
});

kiln.task("resize-image", async (input) => {
  const { width } = input as { width: number };
  return { width: Math.round(width / 2) };
});

kiln.workflow("order", async (input: { orderId: string }, ctx) => {
  const charged = await ctx.step("charge", () => ({ chargeId: `ch_${input.orderId}` }), {
    compensate: (c) => ctx.log(`refunding ${c.chargeId}`),
  });
  const thumb = await ctx.task<{ width: number }>("resize-image", { width: 800 });
  const approval = await ctx.waitForEvent<{ by: string }>("approval", { event: "order.approved", key: input.orderId });
  if (approval.by === "nobody") throw new KilnError("INVALID_INPUT", "approval was refused");
  return { ...charged, thumb, approvedBy: approval.by };
});

await kiln.start();
const runs = [
  await kiln.startWorkflow("hello", { name: "Ada" }),
  await kiln.startWorkflow("order", { orderId: "o-1" }),
  await kiln.startWorkflow("order", { orderId: "o-2" }),
];
// Events are buffered: one is sent before its waiter exists, one after.
await kiln.sendEvent("order.approved", { by: "grace" }, { key: "o-1" });
setTimeout(() => void kiln.sendEvent("order.approved", { by: "nobody" }, { key: "o-2" }), 300);

for (const started of runs) {
  const run = await kiln.waitForRun(started.id, { timeoutMs: 30_000 });
  const steps = await kiln.store.listSteps({ runId: run.id });
  console.log(
    `${run.name.padEnd(6)} ${run.id}  ${run.status.padEnd(11)} ${JSON.stringify(run.output ?? run.error?.message)}`,
  );
  for (const s of steps)
    console.log(`         ${String(s.seq).padStart(7)} ${s.type.padEnd(12)} ${s.name.padEnd(20)} ${s.status}`);
}
await kiln.close();
