"""The Python workflow host: speaks Kiln's line protocol (src/runtimes/protocol.ts) on stdio.

A reader thread takes every line from stdin: it answers ``ping`` at once (so a long step does
not look like a hung host), records ``abort``, hands ``reply`` to the waiting call, and queues
``load``/``activate`` for the main thread, which runs one activation at a time.
"""
from __future__ import annotations

import json
import linecache
import os
import queue
import sys
import threading
import time
import types
from typing import Any, Callable, Dict, Optional

from .activation import Activation, HostDeps
from .calls import check_json
from .errors import KilnError, deserialize_error, serialize_error
from .records import Outcome, call_message, done_message, loaded_message, pong_message, ready_message

PROTOCOL_VERSION = 1


class Channel:
    """The protocol channel: JSON lines out on the original stdout, in from stdin."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._lock = threading.Lock()
        self._next_id = 1
        self._replies: Dict[int, "queue.Queue[Dict[str, Any]]"] = {}
        self.inbox: "queue.Queue[Optional[Dict[str, Any]]]" = queue.Queue()
        self.clock_base = (time.time() * 1000, time.monotonic())
        self.manual_clock = False
        self.current: Optional[Dict[str, Any]] = None

    def send(self, message: Any) -> None:
        line = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            self._out.write(line.encode("utf-8"))
            self._out.flush()

    def clock(self) -> int:
        worker_now, local = self.clock_base
        if self.manual_clock:
            return int(worker_now)
        return int(worker_now + (time.monotonic() - local) * 1000)

    def sync_clock(self, worker_now: Any) -> None:
        if isinstance(worker_now, (int, float)):
            self.clock_base = (float(worker_now), time.monotonic())

    def call(self, activation_id: int, method: str, params: Dict[str, Any]) -> Any:
        with self._lock:
            call_id = self._next_id
            self._next_id += 1
        box: "queue.Queue[Dict[str, Any]]" = queue.Queue(maxsize=1)
        self._replies[call_id] = box
        self.send(call_message(call_id, activation_id, method, params))
        reply = box.get()
        self._replies.pop(call_id, None)
        if reply is None:
            raise KilnError("WORKER_STOPPED", "The worker closed the channel")
        if reply.get("ok"):
            return reply.get("value")
        raise deserialize_error(reply.get("error") or {"code": "INTERNAL", "message": "The call failed"})

    def read_forever(self, stdin: Any) -> None:
        """The reader thread."""
        for raw in stdin:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            kind = message.get("type")
            if kind == "reply":
                self.sync_clock(message.get("now"))
                box = self._replies.get(message.get("id"))
                if box is not None:
                    box.put(message)
            elif kind == "ping":
                current = self.current
                cpu = (time.process_time() - current["cpu"]) * 1000 if current else 0.0
                self.send(pong_message(message.get("id"), cpu))
            elif kind == "abort":
                current = self.current
                if current is not None and current["id"] == message.get("id"):
                    current["abort"] = message.get("reason") or {"code": "LEASE_LOST", "message": "Aborted"}
            else:
                self.inbox.put(message)
        for box in list(self._replies.values()):
            box.put(None)  # type: ignore[arg-type]
        self.inbox.put(None)


class _Deps(HostDeps):
    def __init__(self, channel: Channel, activation_id: int, state: Dict[str, Any], replay_only: bool) -> None:
        self._channel = channel
        self._id = activation_id
        self._state = state
        self.replay_only = replay_only

    def call(self, method: str, params: Dict[str, Any]) -> Any:
        return self._channel.call(self._id, method, params)

    def clock(self) -> int:
        return self._channel.clock()

    def abort_reason(self) -> Optional[Dict[str, Any]]:
        return self._state.get("abort")


def load_workflow(hash_: str, source: str, filename: str, directory: str) -> Callable[..., Any]:
    """Executes deployed source as a module and returns its ``workflow`` function."""
    path = os.path.join(directory, filename)
    module = types.ModuleType("kiln_workflow_%s" % hash_[:16])
    module.__file__ = path
    if directory not in sys.path:
        sys.path.insert(0, directory)
    linecache.cache[path] = (len(source), None, source.splitlines(True), path)
    try:
        code = compile(source, path, "exec")
        exec(code, module.__dict__)  # noqa: S102 - deployed workflow code is what the host runs
    except SyntaxError as error:
        raise KilnError(
            "WORKFLOW_LOAD_FAILED",
            "%s:%s: %s" % (filename, error.lineno, error.msg),
            retryable=False,
        ) from None
    except Exception as error:  # noqa: BLE001 - reported to the worker
        raise KilnError("WORKFLOW_LOAD_FAILED", "Loading %s failed: %s" % (filename, serialize_error(error)["message"]), retryable=False) from None
    fn = module.__dict__.get("workflow")
    if not callable(fn):
        marked = [v for v in module.__dict__.values() if callable(v) and getattr(v, "__kiln_workflow__", None)]
        fn = marked[0] if marked else None
    if not callable(fn):
        raise KilnError(
            "WORKFLOW_LOAD_FAILED",
            "%s defines no workflow: write `def workflow(input, ctx): ...` (or `async def`)" % filename,
            retryable=False,
        )
    return fn


def main() -> None:
    # The protocol owns the original stdout; anything the workflow prints goes to stderr.
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)
    try:
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    except (AttributeError, ValueError):
        pass
    channel = Channel(out)
    reader = threading.Thread(target=channel.read_forever, args=(sys.stdin.buffer,), daemon=True)
    reader.start()
    modules: Dict[str, Callable[..., Any]] = {}
    channel.send(ready_message(os.getpid(), PROTOCOL_VERSION))
    while True:
        message = channel.inbox.get()
        if message is None:
            break
        kind = message.get("type")
        if kind == "load":
            try:
                if message["hash"] not in modules:
                    modules[message["hash"]] = load_workflow(message["hash"], message["source"], message["filename"], message["directory"])
                channel.send(loaded_message(message["id"]))
            except KilnError as error:
                channel.send(loaded_message(message["id"], serialize_error(error)))
        elif kind == "activate":
            _activate(channel, modules, message)
        elif kind == "shutdown":
            break
    sys.stderr.flush()
    os._exit(0)


def _activate(channel: Channel, modules: Dict[str, Callable[..., Any]], message: Dict[str, Any]) -> None:
    channel.manual_clock = bool(message.get("manualClock"))
    channel.sync_clock(message.get("now"))
    activation_id = message["id"]
    fn = modules.get(message["hash"])
    if fn is None:
        error = {"code": "WORKFLOW_LOAD_FAILED", "message": "Code %s is not loaded in this host" % message["hash"]}
        channel.send(done_message(activation_id, {"outcome": "abandoned", "error": error}, 0))
        return
    state: Dict[str, Any] = {"id": activation_id, "cpu": time.process_time(), "abort": None}
    channel.current = state
    activation = Activation(fn, message["claimed"], _Deps(channel, activation_id, state, bool(message.get("replayOnly"))))
    try:
        outcome: Outcome = activation.execute()
    except BaseException as error:  # noqa: BLE001 - a host bug must not kill the host
        outcome = {"outcome": "fail", "error": serialize_error(error, "INTERNAL"), "compensable": False}
    finally:
        channel.current = None
    if outcome.get("outcome") == "complete":
        try:
            check_json(outcome.get("output"), "workflow output")
        except KilnError as error:
            outcome = {"outcome": "fail", "error": serialize_error(error), "compensable": False}
    channel.send(done_message(activation_id, outcome, activation.seq))
