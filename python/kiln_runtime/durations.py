"""Durations and retry policies for Python workflows (numbers are seconds, strings like "5m")."""
from __future__ import annotations

import math
import re
from typing import Any, Callable, Dict, Optional, Union

from .errors import KilnError

_UNITS = {"ms": 1, "s": 1000, "sec": 1000, "m": 60000, "min": 60000, "h": 3600000, "d": 86400000, "w": 604800000}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h|d|w)\s*")


def to_ms(value: Union[int, float, str], what: str = "duration") -> int:
    """Milliseconds of a duration: a number of seconds, or a text such as ``"1h30m"``."""
    if isinstance(value, bool):
        raise KilnError("INVALID_DURATION", 'Expected "%s" to be a duration, got %r' % (what, value))
    if isinstance(value, (int, float)):
        if math.isfinite(value) and value >= 0:
            return int(round(value * 1000))
        raise KilnError("INVALID_DURATION", 'Expected "%s" to be a non-negative number of seconds, got %r' % (what, value))
    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(round(float(text) * 1000))
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise KilnError(
            "INVALID_DURATION",
            'Expected "%s" to be seconds or a duration like "30s", "5m", "1h30m", got %r' % (what, value),
        )
    return int(round(total))


NO_RETRY: Dict[str, Any] = {
    "maxAttempts": 1,
    "initialIntervalMs": 1000,
    "maxIntervalMs": 60000,
    "backoffCoefficient": 2,
    "jitter": 0,
    "nonRetryableErrors": [],
}


def resolve_retry(retry: Any) -> Dict[str, Any]:
    """A retry policy from ``retry=3`` or a dict (``max_attempts``, ``initial_interval`` in seconds, ...)."""
    policy = dict(NO_RETRY)
    if retry is None:
        return policy
    if isinstance(retry, int) and not isinstance(retry, bool):
        policy["maxAttempts"] = retry
        return _check(policy)
    if not isinstance(retry, dict):
        raise KilnError("INVALID_INPUT", "Expected retry to be a number of attempts or a dict, got %r" % (retry,))
    for key, value in retry.items():
        if key in ("max_attempts", "maxAttempts"):
            policy["maxAttempts"] = value
        elif key in ("initial_interval", "backoff"):
            policy["initialIntervalMs"] = to_ms(value, "retry initial_interval")
        elif key == "initialIntervalMs":
            policy["initialIntervalMs"] = value
        elif key == "max_interval":
            policy["maxIntervalMs"] = to_ms(value, "retry max_interval")
        elif key == "maxIntervalMs":
            policy["maxIntervalMs"] = value
        elif key in ("backoff_coefficient", "backoffCoefficient"):
            policy["backoffCoefficient"] = value
        elif key == "jitter":
            policy["jitter"] = value
        elif key in ("non_retryable_errors", "nonRetryableErrors"):
            policy["nonRetryableErrors"] = list(value)
        else:
            raise KilnError("INVALID_INPUT", "Unknown retry option %r" % (key,))
    return _check(policy)


def _check(policy: Dict[str, Any]) -> Dict[str, Any]:
    checks = [
        ("maxAttempts", isinstance(policy["maxAttempts"], int) and policy["maxAttempts"] >= 1),
        ("initialIntervalMs", _num(policy["initialIntervalMs"]) and policy["initialIntervalMs"] >= 0),
        ("maxIntervalMs", _num(policy["maxIntervalMs"]) and policy["maxIntervalMs"] >= 0),
        ("backoffCoefficient", _num(policy["backoffCoefficient"]) and policy["backoffCoefficient"] >= 1),
        ("jitter", _num(policy["jitter"]) and 0 <= policy["jitter"] <= 1),
    ]
    for name, ok in checks:
        if not ok:
            raise KilnError("INVALID_INPUT", 'Expected retry "%s" to be a valid number, got %r' % (name, policy[name]))
    return policy


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def decide_retry(
    policy: Dict[str, Any], attempt: int, error: Dict[str, Any], random: Callable[[], float]
) -> Optional[int]:
    """The delay (ms) before retrying after failed ``attempt``, or None to stop (as decideRetry)."""
    if attempt >= policy["maxAttempts"]:
        return None
    if error.get("retryable") is False:
        return None
    if error.get("code") in policy["nonRetryableErrors"]:
        return None
    base = min(
        policy["maxIntervalMs"],
        policy["initialIntervalMs"] * policy["backoffCoefficient"] ** max(0, attempt - 1),
    )
    spread = base * policy["jitter"]
    return max(0, int(_js_round(base - spread + random() * 2 * spread)))


def _js_round(x: float) -> int:
    return int(math.floor(x + 0.5))
