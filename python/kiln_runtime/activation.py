"""One activation of a Python workflow: a port of src/workflow/workflow-activation.ts.

The workflow function re-runs from the start on every activation. ``ctx.step(name, fn)``
returns the recorded result, or runs ``fn`` and records it. Repeated names get ``#2``, ``#3``;
every primitive also takes the next position (seq), and a call that disagrees with the history
fails the run with NON_DETERMINISTIC. Durable waits (sleep, events, children) block; when every
branch is blocked the run parks. Compensation mode (runs ``compensating`` / ``cancelling``)
replays to collect the compensations of completed steps and runs them in reverse order.

Sync workflows unwind a blocked branch with ``_Blocked`` (a BaseException, so ``except
Exception`` in user code does not swallow it); ``ctx.all([...])`` runs branches side by side.
Async workflows block on a future that never resolves, exactly like the JS runtime, and park
when the event loop has nothing left to run.
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

from .calls import run_coroutine, shutdown_loop
from .deterministic import seeded_random
from .durations import decide_retry, resolve_retry, to_ms
from .errors import KilnError, deserialize_error, serialize_error
from .records import Block, Compensation, Outcome, SerializedError, StepRecord, StepSlot

# The compensation of the step at seq S is recorded at COMPENSATION_SEQ + (COMPENSATION_SEQ - 1 - S):
# later steps are undone first, so steps listed by seq show compensations in the order they ran.
COMPENSATION_SEQ = 1_000_000
# Codes of a write refused for its content: the same write can never succeed, so the step (or the
# run) fails instead of the run being given back to replay it forever.
REFUSED_CONTENT = ("PAYLOAD_TOO_LARGE", "INVALID_INPUT")
UNKNOWN_ERROR = {"code": "STEP_FAILED", "message": "The step failed (no error was recorded)"}


class _Blocked(BaseException):
    """A primitive blocked this branch until a later activation."""


class _Stopped(BaseException):
    """The activation has its outcome (lease lost, cancel, non-determinism): unwind everything."""


class HostDeps:
    """What an activation needs from its host: worker calls, the worker's clock, the abort state."""

    def call(self, method: str, params: Dict[str, Any]) -> Any:  # pragma: no cover - interface
        raise NotImplementedError

    def clock(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def abort_reason(self) -> Optional[Dict[str, Any]]:
        return None

    replay_only: bool = False


class Activation:
    """Runs one activation of ``fn`` over the claimed run and its recorded steps."""

    def __init__(self, fn: Callable[..., Any], claimed: Dict[str, Any], deps: HostDeps) -> None:
        self.fn = fn
        self.run: Dict[str, Any] = claimed["run"]
        self.deps = deps
        status = self.run.get("status")
        self.compensation_mode = status in ("compensating", "cancelling")
        self.history_only = self.compensation_mode or bool(deps.replay_only)
        self.history: Dict[str, Dict[str, Any]] = {}
        self.by_seq: Dict[int, Dict[str, Any]] = {}
        max_seq = -1
        for step in claimed.get("steps") or []:
            self.history[step["name"]] = step
            if step["seq"] < COMPENSATION_SEQ:
                self.by_seq[step["seq"]] = step
                max_seq = max(max_seq, step["seq"])
        self.max_recorded_seq = max_seq
        self.names: Dict[str, int] = {}
        self.blocks: List[Block] = []
        self.compensations: List[Compensation] = []
        self.random = seeded_random(self.run["id"])
        self.seq = 0
        self.time = int(self.run.get("createdAt") or 0)
        self.settled = False
        self.outcome: Optional[Outcome] = None
        self.pending = 0
        self.is_async = inspect.iscoroutinefunction(fn)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self._done: Optional[asyncio.Future] = None
        self._idle_scheduled = False
        self._side: List[Tuple[str, Dict[str, Any]]] = []

    # ── Running ────────────────────────────────────────────────────────────────────────────

    def execute(self) -> Outcome:
        """Runs the activation to its outcome (a dict shaped like the JS ActivationOutcome)."""
        from .context import AsyncContext, Context

        if self.is_async:
            self._run_async(AsyncContext(self))
        else:
            self._run_sync(Context(self))
        self.flush_side()
        assert self.outcome is not None
        return self.outcome

    def _run_sync(self, ctx: Any) -> None:
        try:
            output = self.fn(self.run.get("input"), ctx)
            if inspect.isawaitable(output):
                output = run_coroutine(output)
        except _Stopped:
            return
        except _Blocked:
            if not self.settled:
                self._on_idle()
            return
        except Exception as error:  # noqa: BLE001 - the workflow failed
            self._on_throw(error)
            return
        self._on_return(output)

    def _run_async(self, ctx: Any) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        self._done = loop.create_future()

        async def main() -> None:
            try:
                output = await self.fn(self.run.get("input"), ctx)
            except (_Stopped, _Blocked):
                return
            except Exception as error:  # noqa: BLE001 - the workflow failed
                self._on_throw(error)
                return
            self._on_return(output)

        try:
            loop.create_task(main())
            self.schedule_idle_check()
            loop.run_until_complete(self._done)
        finally:
            shutdown_loop(loop)

    def _on_return(self, output: Any) -> None:
        if self.settled:
            return
        if self.compensation_mode:
            self.compensate()
            return

        def finish() -> None:
            self.finish({"outcome": "complete", "output": output})

        if self.pending == 0 or self.loop is None:
            finish()
        else:
            self._when_idle(finish)

    def _on_throw(self, error: BaseException) -> None:
        if self.settled:
            return
        if self.compensation_mode:
            self.compensate()
            return
        self.finish(
            {
                "outcome": "fail",
                "error": serialize_error(error, "WORKFLOW_FAILED"),
                "compensable": len(self.compensations) > 0,
            }
        )

    def _on_idle(self) -> None:
        """Every branch is blocked (or none is running): park, or compensate in compensation mode."""
        if self.settled or self.pending > 0:
            return
        if self.compensation_mode:
            if self.blocks:
                self.compensate()
            return
        if not self.blocks:
            return
        waiting = any(b.status == "waiting" for b in self.blocks)
        wakes = [b.wake_at for b in self.blocks if b.wake_at is not None]
        self.finish(
            {
                "outcome": "park",
                "status": "waiting" if waiting else "sleeping",
                "wakeAt": min(wakes) if wakes else None,
            }
        )

    def schedule_idle_check(self) -> None:
        if self.loop is None or self._idle_scheduled or self.settled:
            return
        self._idle_scheduled = True
        self.loop.call_soon(self._idle_check, 0)

    def _idle_check(self, rounds: int) -> None:
        assert self.loop is not None
        # Like setImmediate in JS: only once nothing else is ready to run.
        ready = getattr(self.loop, "_ready", None)
        if (ready is not None and len(ready) > 0) or (ready is None and rounds < 5):
            self.loop.call_soon(self._idle_check, rounds + 1)
            return
        self._idle_scheduled = False
        self._on_idle()

    def _when_idle(self, fn: Callable[[], None]) -> None:
        assert self.loop is not None

        def check() -> None:
            if self.settled:
                return
            if self.pending == 0:
                fn()
            else:
                self.loop.call_soon(check)  # type: ignore[union-attr]

        self.loop.call_soon(check)

    def finish(self, outcome: Outcome) -> None:
        if self.settled:
            return
        self.settled = True
        self.resolve(outcome)

    def resolve(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if self._done is not None and not self._done.done():
            self._done.set_result(None)

    # ── Primitives (shared by the sync and async contexts) ─────────────────────────────────

    def is_replaying(self) -> bool:
        return self.seq <= self.max_recorded_seq

    def check_abort(self) -> None:
        reason = self.deps.abort_reason()
        if reason is not None and not self.settled:
            self.finish({"outcome": "abandoned", "error": reason})
        if self.settled:
            raise _Stopped()

    def next(self, base: Any, type_: str) -> Tuple[str, int, Optional[Dict[str, Any]]]:
        """Names the next primitive, assigns its seq and checks determinism (raises _Stopped)."""
        self.check_abort()
        if not isinstance(base, str) or not base:
            self.finish(
                {
                    "outcome": "fail",
                    "error": serialize_error(KilnError("INVALID_INPUT", "Every step needs a non-empty string name")),
                    "compensable": len(self.compensations) > 0,
                }
            )
            raise _Stopped()
        count = self.names.get(base, 0) + 1
        self.names[base] = count
        name = base if count == 1 else "%s#%d" % (base, count)
        seq = self.seq
        self.seq += 1
        recorded = self.history.get(name)
        at_seq = self.by_seq.get(seq)
        mismatch = (recorded is not None and (recorded["type"] != type_ or recorded["seq"] != seq)) or (
            recorded is None and at_seq is not None
        )
        if mismatch:
            expected = at_seq if at_seq is not None else recorded
            run_name = self.run.get("name")
            if expected is not None:
                message = (
                    'Non-deterministic workflow "%s": position %d was recorded as %s "%s", but the code now calls %s "%s". '
                    "Deploy the change as a new version, or retry the run from an earlier step."
                    % (run_name, seq, expected["type"], expected["name"], type_, name)
                )
            else:
                message = 'Non-deterministic workflow "%s": %s "%s" was recorded at position %s, but the code now calls it at position %d.' % (
                    run_name,
                    type_,
                    name,
                    recorded["seq"] if recorded else "?",
                    seq,
                )
            error = KilnError(
                "NON_DETERMINISTIC",
                message,
                retryable=False,
                data={"expected": expected["name"] if expected else None, "actual": name, "position": seq},
            )
            self.finish({"outcome": "fail", "error": serialize_error(error), "compensable": len(self.compensations) > 0})
            raise _Stopped()
        if recorded is not None:
            at = (recorded.get("wakeAt") or 0) if recorded["type"] == "sleep" else recorded.get("startedAt") or 0
            self.time = max(self.time, int(at))
        return name, seq, recorded

    def block(self, status: str, wake_at: Optional[int]) -> None:
        self.blocks.append(Block(status, wake_at))
        raise _Blocked()

    def register_compensation(self, name: str, seq: int, output: Any, compensate: Optional[Callable[[Any], Any]]) -> None:
        if compensate is not None:
            self.compensations.append(Compensation(name, seq, output, compensate))

    # step ────────────────────────────────────────────────────────────────────────────────────

    def step_prepare(self, base: Any, compensate: Any) -> Tuple[bool, Any]:
        """(True, value) when replayed; (False, StepSlot) when it must run."""
        name, seq, recorded = self.next(base, "step")
        # A compensated step replays as done (compensation mode); a retry of the run forgets it.
        if recorded is not None and recorded["status"] in ("completed", "compensated"):
            if compensate is not None and recorded.get("compensable"):
                self.register_compensation(name, seq, recorded.get("output"), compensate)
            return True, recorded.get("output")
        if recorded is not None and recorded["status"] == "failed":
            raise deserialize_error(recorded.get("error") or UNKNOWN_ERROR)
        if self.history_only:
            self.block("waiting", None)
        now = self.deps.clock()
        if recorded is not None and recorded.get("wakeAt") is not None and recorded["wakeAt"] > now:
            self.block("sleeping", recorded["wakeAt"])
        attempt = ((recorded.get("attempt") or 0) if recorded is not None else 0) + 1
        return False, StepSlot(name, seq, attempt, now)

    def step_succeeded(self, slot: StepSlot, output: Any, compensate: Any) -> Any:
        name, seq, attempt, now = slot.name, slot.seq, slot.attempt, slot.now
        refused = self.save(
            {
                "name": name,
                "seq": seq,
                "type": "step",
                "status": "completed",
                "output": output,
                "attempt": attempt,
                "compensable": compensate is not None,
                "startedAt": now,
            },
            refusable=True,
        )
        if refused is not None:
            # The store refused the result (over the payload limit): the step fails, no retry.
            self.save({"name": name, "seq": seq, "type": "step", "status": "failed", "error": refused, "attempt": attempt})
            raise deserialize_error(refused)
        self.time = max(self.time, now)
        self.register_compensation(name, seq, output, compensate)
        return output

    def step_failed(self, slot: StepSlot, error: BaseException, retry: Any) -> int:
        """Records a failed attempt: returns the retry time, or raises the terminal error."""
        name, seq, attempt = slot.name, slot.seq, slot.attempt
        serialized = serialize_error(error, "STEP_FAILED")
        policy = resolve_retry(retry)
        delay = decide_retry(policy, attempt, serialized, self.random)
        now = self.deps.clock()
        if delay is not None:
            wake = now + delay
            self.save(
                {"name": name, "seq": seq, "type": "step", "status": "running", "error": serialized, "attempt": attempt, "wakeAt": wake}
            )
            self.log_now("warning", 'Step "%s" attempt %d failed: %s; retrying' % (name, attempt, serialized["message"]), name)
            return wake
        self.save({"name": name, "seq": seq, "type": "step", "status": "failed", "error": serialized, "attempt": attempt})
        raise deserialize_error(serialized)

    # sleep, events, children ─────────────────────────────────────────────────────────────────

    def sleep(self, base: Any, duration: Any) -> None:
        name, seq, recorded = self.next(base, "sleep")
        now = self.deps.clock()
        if recorded is not None:
            wake = recorded.get("wakeAt") or 0
            if wake > now:
                self.block("sleeping", wake)
            if recorded["status"] != "completed" and not self.compensation_mode:
                self.save(
                    {"name": name, "seq": seq, "type": "sleep", "status": "completed", "wakeAt": wake, "startedAt": recorded.get("startedAt")}
                )
            return
        if self.history_only:
            self.block("waiting", None)
        ms = to_ms(duration, "duration of sleep %s" % name)
        wake = now + ms
        self.save({"name": name, "seq": seq, "type": "sleep", "status": "completed" if ms <= 0 else "waiting", "wakeAt": wake, "startedAt": now})
        if ms > 0:
            self.block("sleeping", wake)

    def wait_for_event(self, base: Any, event: Optional[str], key: Optional[str], timeout: Any) -> Any:
        name, seq, recorded = self.next(base, "event")
        now = self.deps.clock()
        if recorded is not None:
            return self._settle_wait(recorded, name, seq, now)
        if self.history_only:
            self.block("waiting", None)
        timeout_ms = None if timeout is None else to_ms(timeout, "timeout of wait %s" % name)
        result = self.call(
            "awaitEvent",
            {
                "runId": self.run["id"],
                "leaseToken": self.run["leaseToken"],
                "stepName": name,
                "seq": seq,
                "eventName": event or base,
                "key": key,
                "timeoutAt": None if timeout_ms is None else now + timeout_ms,
            },
        )
        self.accept(result)
        step = result.get("step")
        if not step:
            self.finish({"outcome": "abandoned", "error": {"code": "INTERNAL", "message": "The store returned no wait step"}})
            raise _Stopped()
        return self._settle_wait(step, name, seq, now)

    def _settle_wait(self, step: Dict[str, Any], name: str, seq: int, now: int) -> Any:
        if step["status"] == "completed":
            return step.get("output")
        if step["status"] == "failed":
            raise deserialize_error(step.get("error") or UNKNOWN_ERROR)
        if self.compensation_mode:
            self.block("waiting", None)
        wake = step.get("wakeAt")
        if wake is not None and wake <= now:
            error = KilnError(
                "EVENT_TIMEOUT",
                'No event "%s" arrived for wait "%s" in time' % (step.get("eventName"), name),
                data={"event": step.get("eventName"), "key": step.get("eventKey")},
            )
            self.save({"name": name, "seq": seq, "type": "event", "status": "failed", "error": serialize_error(error)})
            raise error
        self.block("waiting", wake)

    def child(self, type_: str, target: str, input: Any, options: Dict[str, Any]) -> Any:
        name, seq, recorded = self.next(options.get("name") or "%s:%s" % (type_, target), "child")
        if recorded is not None and recorded["status"] == "completed":
            return recorded.get("output")
        if recorded is not None and recorded["status"] == "failed":
            raise deserialize_error(recorded.get("error") or UNKNOWN_ERROR)
        if recorded is not None or self.history_only:
            self.block("waiting", None)
        child: Dict[str, Any] = {"type": type_, "name": target, "input": input, "queue": options.get("queue") or self.run.get("queue")}
        if options.get("priority") is not None:
            child["priority"] = options["priority"]
        if options.get("timeout") is not None:
            child["timeoutMs"] = to_ms(options["timeout"], "timeout of %s" % name)
        result = self.call(
            "startChildRun", {"runId": self.run["id"], "leaseToken": self.run["leaseToken"], "stepName": name, "seq": seq, "child": child}
        )
        self.accept(result)
        self.block("waiting", None)

    # ── Plumbing ───────────────────────────────────────────────────────────────────────────

    def call(self, method: str, params: Dict[str, Any]) -> Any:
        """A worker call; a failed call (store unreachable) gives the run back (abandoned)."""
        self.check_abort()
        self.flush_side()
        try:
            return self.deps.call(method, params)
        except KilnError as error:
            self.finish({"outcome": "abandoned", "error": {"code": error.code if error.code else "STORE_UNAVAILABLE", "message": error.message}})
            raise _Stopped()

    def save(self, step: StepRecord, refusable: bool = False) -> Optional[SerializedError]:
        """Records a step. ``refusable``: return the store's error when it refuses the content."""
        item: StepRecord = {"runId": self.run["id"], "leaseToken": self.run["leaseToken"], "startedAt": self.deps.clock()}
        # None means "not given" (as undefined in JS), except a step's output, which may be null.
        item.update({k: v for k, v in step.items() if v is not None or k == "output"})  # type: ignore[typeddict-item]
        result = self.call("saveSteps", {"steps": [item]})
        verdict = result[0] if isinstance(result, list) and result else {"ok": False, "error": {"code": "INTERNAL", "message": "No result"}}
        error = verdict.get("error") or {}
        if refusable and not verdict.get("ok") and error.get("code") in REFUSED_CONTENT:
            return error
        self.accept(verdict)
        return None

    def accept(self, result: Dict[str, Any]) -> None:
        error = result.get("error") or {}
        if not result.get("ok") and error.get("code") in REFUSED_CONTENT:
            self.finish({"outcome": "fail", "error": error, "compensable": len(self.compensations) > 0})
            raise _Stopped()
        if not result.get("ok"):
            self.finish({"outcome": "abandoned", "error": result.get("error") or {"code": "LEASE_LOST", "message": "Lease lost"}})
            raise _Stopped()
        if result.get("cancelRequested") and not self.compensation_mode:
            self.finish({"outcome": "release"})
            raise _Stopped()

    def log_now(self, level: str, message: str, step_name: Optional[str]) -> None:
        entry = {"runId": self.run["id"], "attempt": self.run.get("attempt", 1), "stepName": step_name, "level": level, "message": message, "ts": self.deps.clock()}
        self._side.append(("log", entry))

    def progress_now(self, percent: Optional[float], message: Optional[str]) -> None:
        update = {"runId": self.run["id"], "leaseToken": self.run["leaseToken"], "progress": {"percent": percent, "message": message}}
        self._side.append(("progress", update))

    def compensate(self) -> None:
        """Runs the compensations of completed steps (compensation.py), in the loop if async."""
        from .compensation import run_compensations

        if self.loop is not None:
            self.loop.create_task(run_compensations(self))
        else:
            run_coroutine(run_compensations(self))

    def flush_side(self) -> None:
        """Sends buffered log lines and progress (best effort, like the JS batcher)."""
        if not self._side:
            return
        side, self._side = self._side, []
        logs = [e for kind, e in side if kind == "log"]
        updates = [e for kind, e in side if kind == "progress"]
        try:
            if logs:
                self.deps.call("appendLogs", {"entries": logs})
            if updates:
                self.deps.call("updateRuns", {"items": updates[-1:]})
        except KilnError:
            pass
