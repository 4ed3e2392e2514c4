"""The ``ctx`` a Python workflow gets: ``Context`` for ``def``, ``AsyncContext`` for ``async def``."""
from __future__ import annotations

import asyncio
import datetime
import inspect
from typing import Any, Callable, Dict, Iterable, List, Optional

from .activation import Activation, _Blocked, _Stopped
from .calls import call_with_timeout, check_json
from .deterministic import uuid_from
from .durations import to_ms
from .errors import KilnError
from .records import Block


class _BaseContext:
    def __init__(self, activation: Activation) -> None:
        self._a = activation

    @property
    def run(self) -> Dict[str, Any]:
        """The run being executed (id, name, attempt, input, ...), as a dict."""
        return self._a.run

    def now(self) -> datetime.datetime:
        """Deterministic time (UTC): the time of the latest step so far; replays see the same value."""
        return datetime.datetime.fromtimestamp(self._a.time / 1000, tz=datetime.timezone.utc)

    def now_ms(self) -> int:
        """Deterministic time as epoch milliseconds."""
        return self._a.time

    def random(self) -> float:
        """A deterministic random number in [0, 1), seeded by the run id."""
        return self._a.random()

    def uuid(self) -> str:
        """A deterministic UUID (v4 format), seeded by the run id."""
        return uuid_from(self._a.random)

    def log(self, message: Any, level: str = "info") -> None:
        """Appends a line to the run's log (suppressed while replaying recorded steps)."""
        if not self._a.is_replaying():
            self._a.log_now(level, str(message), None)

    def progress(self, percent: Optional[float], message: Optional[str] = None) -> None:
        """Reports progress (0-100, or None) with an optional message."""
        if not self._a.is_replaying():
            self._a.progress_now(percent, message)

    def idempotency_key(self, step_name: Optional[str] = None) -> str:
        """A key stable across attempts, for the systems a step calls."""
        run_id = self._a.run["id"]
        return "%s/%s" % (run_id, step_name) if step_name else run_id


def _child_options(name: Optional[str], queue: Optional[str], priority: Optional[int], timeout: Any) -> Dict[str, Any]:
    return {"name": name, "queue": queue, "priority": priority, "timeout": timeout}


class Context(_BaseContext):
    """The context of a ``def workflow(input, ctx)``: every method returns its result directly."""

    def step(
        self,
        name: str,
        fn: Callable[[], Any],
        retry: Any = None,
        timeout: Any = None,
        compensate: Optional[Callable[[Any], Any]] = None,
    ) -> Any:
        """Runs ``fn`` once per run and returns its recorded result on replay.

        ``retry``: attempts (int) or a dict (``max_attempts``, ``initial_interval`` seconds,
        ``backoff_coefficient``, ``max_interval``, ``jitter``, ``non_retryable_errors``).
        ``timeout``: seconds or "30s". ``compensate(output)`` undoes the step (saga).
        """
        a = self._a
        replayed, value = a.step_prepare(name, compensate)
        if replayed:
            return value
        slot = value
        timeout_ms = None if timeout is None else to_ms(timeout, "timeout of step %s" % slot.name)
        try:
            output = call_with_timeout(fn, timeout_ms, slot.name)
            check_json(output, 'output of step "%s"' % slot.name)
        except Exception as error:  # noqa: BLE001 - recorded as a failed attempt
            a.block("sleeping", a.step_failed(slot, error, retry))
        return a.step_succeeded(slot, output, compensate)

    def sleep(self, name: str, duration: Any) -> None:
        """Durable sleep: ``duration`` in seconds or text ("5m"); the run parks until then."""
        self._a.sleep(name, duration)

    def wait_for_event(self, name: str, event: Optional[str] = None, key: Optional[str] = None, timeout: Any = None) -> Any:
        """Waits for an event (buffered ones count) and returns its payload; EVENT_TIMEOUT after ``timeout``."""
        return self._a.wait_for_event(name, event, key, timeout)

    def task(
        self,
        kind: str,
        input: Any = None,
        *,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        timeout: Any = None,
    ) -> Any:
        """Runs a task kind as a child run and returns its output (CHILD_FAILED if it fails)."""
        return self._a.child("task", kind, input, _child_options(name, queue, priority, timeout))

    def workflow(
        self,
        workflow_name: str,
        input: Any = None,
        *,
        name: Optional[str] = None,
        queue: Optional[str] = None,
        priority: Optional[int] = None,
        timeout: Any = None,
    ) -> Any:
        """Runs a workflow as a child run and returns its output."""
        return self._a.child("workflow", workflow_name, input, _child_options(name, queue, priority, timeout))

    def all(self, branches: Iterable[Any]) -> List[Any]:
        """Runs branches (callables) side by side, like ``Promise.all``: each progresses until it
        blocks; the results come back in order once none is blocked. The first error is raised
        after every branch had its turn."""
        results: List[Any] = []
        blocked = False
        first_error: Optional[BaseException] = None
        for branch in branches:
            try:
                results.append(branch() if callable(branch) else branch)
            except _Blocked:
                blocked = True
                results.append(None)
            except _Stopped:
                raise
            except Exception as error:  # noqa: BLE001 - raised after the other branches
                first_error = first_error or error
                results.append(None)
        if first_error is not None:
            raise first_error
        if blocked:
            raise _Blocked()
        return results


class AsyncContext(_BaseContext):
    """The context of an ``async def workflow(input, ctx)``: primitives are awaited, and branches
    run in parallel with ``asyncio.gather`` (or ``ctx.all``)."""

    async def _forever(self) -> Any:
        """A blocked branch: never resumes in this activation (the run parks when all are)."""
        self._a.schedule_idle_check()
        assert self._a.loop is not None
        return await self._a.loop.create_future()

    async def _primitive(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except (_Blocked, _Stopped):
            pass
        return await self._forever()

    async def step(
        self,
        name: str,
        fn: Callable[[], Any],
        retry: Any = None,
        timeout: Any = None,
        compensate: Optional[Callable[[Any], Any]] = None,
    ) -> Any:
        """Runs ``fn`` (sync or async) once per run and returns its recorded result on replay."""
        a = self._a
        try:
            replayed, value = a.step_prepare(name, compensate)
        except (_Blocked, _Stopped):
            return await self._forever()
        if replayed:
            return value
        slot = value
        a.pending += 1
        try:
            failure: Optional[BaseException] = None
            output: Any = None
            try:
                timeout_ms = None if timeout is None else to_ms(timeout, "timeout of step %s" % slot.name)
                output = await _invoke(fn, timeout_ms, slot.name)
                check_json(output, 'output of step "%s"' % slot.name)
            except Exception as error:  # noqa: BLE001 - recorded as a failed attempt
                failure = error
            try:
                if failure is None:
                    return a.step_succeeded(slot, output, compensate)
                a.blocks.append(Block("sleeping", a.step_failed(slot, failure, retry)))
            except (_Blocked, _Stopped):
                pass
        finally:
            a.pending -= 1
            a.schedule_idle_check()
        return await self._forever()

    async def sleep(self, name: str, duration: Any) -> None:
        """Durable sleep: ``duration`` in seconds or text ("5m")."""
        await self._primitive(lambda: self._a.sleep(name, duration))

    async def wait_for_event(self, name: str, event: Optional[str] = None, key: Optional[str] = None, timeout: Any = None) -> Any:
        """Waits for an event and returns its payload."""
        return await self._primitive(lambda: self._a.wait_for_event(name, event, key, timeout))

    async def task(self, kind: str, input: Any = None, *, name: Optional[str] = None, queue: Optional[str] = None, priority: Optional[int] = None, timeout: Any = None) -> Any:
        """Runs a task kind as a child run and returns its output."""
        options = _child_options(name, queue, priority, timeout)
        return await self._primitive(lambda: self._a.child("task", kind, input, options))

    async def workflow(self, workflow_name: str, input: Any = None, *, name: Optional[str] = None, queue: Optional[str] = None, priority: Optional[int] = None, timeout: Any = None) -> Any:
        """Runs a workflow as a child run and returns its output."""
        options = _child_options(name, queue, priority, timeout)
        return await self._primitive(lambda: self._a.child("workflow", workflow_name, input, options))

    async def all(self, awaitables: Iterable[Any]) -> List[Any]:
        """``asyncio.gather`` over steps and children."""
        return list(await asyncio.gather(*awaitables))


async def _invoke(fn: Callable[[], Any], timeout_ms: Optional[int], name: str) -> Any:
    result = fn()
    if not inspect.isawaitable(result):
        return result
    if timeout_ms is None:
        return await result
    try:
        return await asyncio.wait_for(result, timeout_ms / 1000)
    except asyncio.TimeoutError:
        raise KilnError("STEP_TIMEOUT", 'Step "%s" did not finish within %d ms' % (name, timeout_ms)) from None
