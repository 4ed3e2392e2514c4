"""Typed records of the runtime: the shapes of src/runtimes/protocol.ts and of the store's writes.

Dicts that cross the wire are ``TypedDict`` s (they serialize as they are); records that stay
inside an activation are frozen dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, TypedDict


class SerializedError(TypedDict, total=False):
    """An error as stored on runs and steps (``SerializedError`` in src/errors.ts)."""

    code: str
    message: str
    retryable: bool
    data: Dict[str, Any]
    stack: str


class StepRecord(TypedDict, total=False):
    """One item of a ``saveSteps`` call (``SaveStepParams`` in src/store/store.ts)."""

    runId: str
    leaseToken: int
    name: str
    seq: int
    type: str
    status: str
    output: Any
    error: Optional[SerializedError]
    attempt: int
    compensable: bool
    compensates: str
    wakeAt: Optional[int]
    startedAt: Optional[int]


class Outcome(TypedDict, total=False):
    """How an activation ended (``ActivationOutcome`` in src/worker/workflow-activation.ts)."""

    outcome: str
    output: Any
    error: SerializedError
    compensable: bool
    status: str
    wakeAt: Optional[int]


class ReadyMessage(TypedDict):
    """The host's first line: it runs and speaks this protocol version."""

    type: str
    runtime: str
    pid: int
    protocol: int


class LoadedMessage(TypedDict, total=False):
    """The answer to ``load``: the code is ready to activate, or the error."""

    type: str
    id: Any
    ok: bool
    error: SerializedError


class CallMessage(TypedDict):
    """A worker call of an activation (``saveSteps``, ``awaitEvent``, ...)."""

    type: str
    id: int
    activation: int
    method: str
    params: Dict[str, Any]


class PongMessage(TypedDict):
    """The answer to ``ping``, with the CPU time of the current activation."""

    type: str
    id: Any
    cpuMs: float


class DoneMessage(TypedDict):
    """The end of an activation, with the number of primitives it reached."""

    type: str
    id: Any
    outcome: Outcome
    reached: int


@dataclass(frozen=True)
class Block:
    """A branch blocked on a durable wait: ``sleeping`` until ``wake_at``, or ``waiting``."""

    status: str
    wake_at: Optional[int]


@dataclass(frozen=True)
class Compensation:
    """The compensation of a completed step, with the step's output to undo."""

    step_name: str
    seq: int
    output: Any
    fn: Callable[[Any], Any]


@dataclass(frozen=True)
class StepSlot:
    """A step that must run in this activation: its suffixed name, position, attempt and start time."""

    name: str
    seq: int
    attempt: int
    now: int


def ready_message(pid: int, protocol: int) -> ReadyMessage:
    return {"type": "ready", "runtime": "python", "pid": pid, "protocol": protocol}


def loaded_message(id_: Any, error: Optional[SerializedError] = None) -> LoadedMessage:
    if error is None:
        return {"type": "loaded", "id": id_, "ok": True}
    return {"type": "loaded", "id": id_, "ok": False, "error": error}


def call_message(call_id: int, activation: int, method: str, params: Dict[str, Any]) -> CallMessage:
    return {"type": "call", "id": call_id, "activation": activation, "method": method, "params": params}


def pong_message(id_: Any, cpu_ms: float) -> PongMessage:
    return {"type": "pong", "id": id_, "cpuMs": cpu_ms}


def done_message(id_: Any, outcome: Outcome, reached: int) -> DoneMessage:
    return {"type": "done", "id": id_, "outcome": outcome, "reached": reached}


__all__: List[str] = [
    "Block",
    "CallMessage",
    "Compensation",
    "DoneMessage",
    "LoadedMessage",
    "Outcome",
    "PongMessage",
    "ReadyMessage",
    "SerializedError",
    "StepRecord",
    "StepSlot",
    "call_message",
    "done_message",
    "loaded_message",
    "pong_message",
    "ready_message",
]
