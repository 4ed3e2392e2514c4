"""Compensation (saga): undo completed steps in reverse order, each recorded as a step."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, List, Optional

from .activation import COMPENSATION_SEQ
from .errors import KilnError, serialize_error
from .records import SerializedError, StepRecord

if TYPE_CHECKING:
    from .activation import Activation


async def run_compensations(self: "Activation") -> None:
    """Runs the registered compensations of ``self`` in reverse order, each recorded as a step."""
    if self.settled:
        return
    self.settled = True  # No more forward progress in this activation.
    errors: List[SerializedError] = []
    for compensation in sorted(self.compensations, key=lambda c: -c.seq):
        step_name, seq = compensation.step_name, compensation.seq
        name = "compensate:%s" % step_name
        recorded = self.history.get(name)
        if recorded is not None and recorded["status"] in ("completed", "failed", "skipped", "compensated"):
            if recorded["status"] == "failed" and recorded.get("error"):
                errors.append(recorded["error"])
            continue
        status = "completed"
        error: Optional[SerializedError] = None
        try:
            result = compensation.fn(compensation.output)
            if inspect.isawaitable(result):
                await result
        except Exception as e:  # noqa: BLE001 - a compensation failed
            status, error = "failed", serialize_error(e, "COMPENSATION_FAILED")
            errors.append(error)
        item: StepRecord = {
            "runId": self.run["id"],
            "leaseToken": self.run["leaseToken"],
            "name": name,
            "seq": COMPENSATION_SEQ + (COMPENSATION_SEQ - 1 - seq),
            "type": "compensation",
            "compensates": step_name,
            "status": status,
            "output": None,
            "error": error,
            "startedAt": self.deps.clock(),
        }
        try:
            self.flush_side()
            results = self.deps.call("saveSteps", {"steps": [item]})
        except KilnError as e:
            self.resolve({"outcome": "abandoned", "error": {"code": "STORE_UNAVAILABLE", "message": e.message}})
            return
        result = results[0] if isinstance(results, list) and results else {"ok": False}
        if not result.get("ok"):
            self.resolve({"outcome": "abandoned", "error": result.get("error") or {"code": "LEASE_LOST", "message": "Lease lost"}})
            return
    if errors:
        error = KilnError(
            "COMPENSATION_FAILED",
            "%d compensation(s) failed: %s" % (len(errors), "; ".join(e.get("message", "") for e in errors)),
            retryable=False,
            data={"errors": errors, "originalError": self.run.get("error")},
        )
        self.resolve({"outcome": "compensation-failed", "error": serialize_error(error)})
    else:
        self.resolve({"outcome": "cancelled"} if self.run.get("status") == "cancelling" else {"outcome": "compensated"})
