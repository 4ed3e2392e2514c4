// A Kiln workflow: steps are memoized, sleeps are durable. Deployed by `kiln dev` at start.
async function workflow(input, { step, sleep, task }) {
  const greeting = await step("greet", () => `Hello, ${input?.name ?? "world"}!`);
  await sleep("wait", 1000);
  const script = await task("hello", { name: input?.name ?? "world" });
  return await step("complete", () => ({ message: greeting, script }));
}
