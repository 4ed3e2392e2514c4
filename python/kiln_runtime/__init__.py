"""kiln_runtime: runs Python workflows for Kiln (standard library only, Python >= 3.9).

A workflow is a function in a deployed file::

    def workflow(input, ctx):
        greeting = ctx.step("greet", lambda: "Hello, %s!" % input["name"])
        ctx.sleep("wait", 5)
        return ctx.step("complete", lambda: {"message": greeting})

``async def workflow(input, ctx)`` works too (await every ``ctx`` primitive, run branches with
``asyncio.gather``). The worker starts ``python -m kiln_runtime`` host processes that speak
Kiln's line protocol on stdio; see ``host.py``.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .context import AsyncContext, Context
from .errors import KilnError

__all__ = ["AsyncContext", "Context", "KilnError", "define_workflow"]
__version__ = "0.1.0"


def define_workflow(name: Optional[str] = None, version: Optional[str] = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a function as the file's workflow when it is not called ``workflow``."""

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        fn.__kiln_workflow__ = {"name": name, "version": version}  # type: ignore[attr-defined]
        return fn

    return mark
