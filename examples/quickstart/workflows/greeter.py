# A Python workflow: ctx.step is memoized, ctx.sleep is durable.
def workflow(input, ctx):
    greeting = ctx.step("greet", lambda: "Hello, %s!" % input.get("name", "world"))
    ctx.sleep("wait", 1)
    return ctx.step("complete", lambda: {"message": greeting})
