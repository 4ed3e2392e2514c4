"""Kiln errors in Python: a stable string code, a message, optional data (mirrors src/errors.ts)."""
from __future__ import annotations

import traceback
from typing import Any, Dict, Optional

from .error_codes import ERROR_CODES, NON_RETRYABLE_CODES
from .records import SerializedError


class KilnError(Exception):
    """An error with a stable code (``STEP_FAILED``, ``EVENT_TIMEOUT``, ``CHILD_FAILED``, ...)."""

    def __init__(
        self,
        code: str,
        message: str,
        retryable: Optional[bool] = None,
        data: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = (code not in NON_RETRYABLE_CODES) if retryable is None else retryable
        self.data = data

    def __repr__(self) -> str:
        return "KilnError(%r, %r)" % (self.code, self.message)


def serialize_error(error: BaseException, fallback_code: str = "STEP_FAILED") -> SerializedError:
    """The stored form of an error: KilnErrors keep their code, others get ``fallback_code``."""
    if isinstance(error, KilnError):
        out: SerializedError = {"code": error.code, "message": error.message, "retryable": error.retryable}
        if error.data is not None:
            out["data"] = error.data
        return out
    name = type(error).__name__
    text = str(error)
    message = text if name == "Exception" else ("%s: %s" % (name, text) if text else name)
    stack = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    return {"code": fallback_code, "message": message, "stack": stack}


def deserialize_error(error: SerializedError) -> KilnError:
    """A stored error as a KilnError to raise (its code kept when it is a known one, as in JS)."""
    code = error.get("code")
    return KilnError(
        code if isinstance(code, str) and code in ERROR_CODES else "STEP_FAILED",
        str(error.get("message") or "Unknown error"),
        error.get("retryable"),
        error.get("data"),
    )
