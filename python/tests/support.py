"""Helpers of the unit tests: a claimed run, and host deps that play the worker in memory.

The worker's side of the protocol is a few fenced writes; here they are recorded and answered
``ok`` (or with the answer a test sets), so the activation can be checked without Node.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Callable, Dict, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from kiln_runtime.activation import Activation, HostDeps  # noqa: E402

RUN_ID = "01900000-0000-7000-8000-000000000001"
T0 = 1_000_000


def claimed(steps: Optional[List[Dict[str, Any]]] = None, status: str = "running", input: Any = None) -> Dict[str, Any]:
    """A claimed run of workflow ``wf`` with its recorded steps."""
    run = {"id": RUN_ID, "name": "wf", "status": status, "input": input, "leaseToken": 1, "attempt": 1, "createdAt": T0, "queue": "default"}
    return {"run": run, "steps": steps or []}


def recorded(name: str, seq: int, output: Any = None, type_: str = "step", status: str = "completed", **extra: Any) -> Dict[str, Any]:
    """A step as the store lists it."""
    step = {"name": name, "seq": seq, "type": type_, "status": status, "output": output, "attempt": 1, "startedAt": T0}
    step.update(extra)
    return step


class MemoryWorker(HostDeps):
    """Answers the activation's calls like a worker whose lease holds, and records them."""

    def __init__(self, now: int = T0) -> None:
        self.now = now
        self.calls: List[Dict[str, Any]] = []
        self.answers: Dict[str, Callable[[Dict[str, Any]], Any]] = {}

    def call(self, method: str, params: Dict[str, Any]) -> Any:
        self.calls.append({"method": method, "params": params})
        if method in self.answers:
            return self.answers[method](params)
        if method == "saveSteps":
            return [{"ok": True} for _ in params["steps"]]
        return {"ok": True}

    def clock(self) -> int:
        return self.now

    def saved(self) -> List[Dict[str, Any]]:
        """Every step item written, in order."""
        return [s for c in self.calls if c["method"] == "saveSteps" for s in c["params"]["steps"]]


def activate(fn: Callable[..., Any], run: Dict[str, Any], worker: Optional[MemoryWorker] = None) -> Dict[str, Any]:
    """One activation of ``fn`` over ``run``; returns its outcome."""
    return dict(Activation(fn, run, worker or MemoryWorker()).execute())
