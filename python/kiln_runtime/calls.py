"""Helpers of the activation: JSON checks, step functions with timeouts, throwaway event loops."""
from __future__ import annotations

import asyncio
import inspect
import json
import threading
from typing import Any, Callable, Dict, Optional

from .errors import KilnError


def check_json(value: Any, what: str) -> None:
    """Raises INVALID_INPUT when a value cannot be stored as JSON."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise KilnError("INVALID_INPUT", "The %s is not serializable as JSON: %s" % (what, error), retryable=False)


def call_with_timeout(fn: Callable[[], Any], timeout_ms: Optional[int], name: str) -> Any:
    """Calls a sync step function, failing with STEP_TIMEOUT after ``timeout_ms`` (it runs on in a thread)."""
    if timeout_ms is None:
        result = fn()
        return run_coroutine(result) if inspect.isawaitable(result) else result
    box: Dict[str, Any] = {}

    def target() -> None:
        try:
            result = fn()
            box["value"] = run_coroutine(result) if inspect.isawaitable(result) else result
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout_ms / 1000)
    if thread.is_alive():
        raise KilnError("STEP_TIMEOUT", 'Step "%s" did not finish within %d ms' % (name, timeout_ms))
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_coroutine(awaitable: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(awaitable)
    finally:
        shutdown_loop(loop)


def shutdown_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancels what the activation left behind (blocked branches) and closes the loop quietly."""
    try:
        tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    except BaseException:  # noqa: BLE001 - best effort cleanup
        pass
    finally:
        loop.close()
