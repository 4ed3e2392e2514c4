import json
import os
import subprocess
import sys
import unittest

from support import claimed

PYTHON_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

SOURCE = """def workflow(input, ctx):
    return ctx.step("greet", lambda: "Hello, %s!" % input["name"])
"""


class HostProcessTest(unittest.TestCase):
    """``python -m kiln_runtime`` as the worker starts it, spoken to over its stdio line protocol."""

    def setUp(self):
        self.host = subprocess.Popen(
            [sys.executable, "-m", "kiln_runtime"],
            cwd=PYTHON_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def tearDown(self):
        for stream in (self.host.stdin, self.host.stdout, self.host.stderr):
            stream.close()
        self.host.wait(timeout=10)

    def send(self, message):
        self.host.stdin.write((json.dumps(message) + "\n").encode("utf-8"))
        self.host.stdin.flush()

    def receive(self):
        line = self.host.stdout.readline()
        if not line:
            self.fail("the host closed its output: %s" % self.host.stderr.read().decode())
        return json.loads(line)

    def test_loads_activates_calls_back_and_reports_the_outcome(self):
        ready = self.receive()
        self.assertEqual((ready["type"], ready["runtime"], ready["protocol"]), ("ready", "python", 1))
        self.send({"type": "load", "id": 1, "hash": "h1", "source": SOURCE, "filename": "greet.py", "directory": PYTHON_DIR})
        self.assertEqual(self.receive(), {"type": "loaded", "id": 1, "ok": True})
        self.send({"type": "activate", "id": 7, "hash": "h1", "claimed": claimed(input={"name": "Ada"}), "now": 5000, "manualClock": True})
        call = self.receive()
        self.assertEqual((call["type"], call["activation"], call["method"]), ("call", 7, "saveSteps"))
        [step] = call["params"]["steps"]
        self.assertEqual((step["name"], step["output"], step["startedAt"]), ("greet", "Hello, Ada!", 5000))
        self.send({"type": "reply", "id": call["id"], "ok": True, "value": [{"ok": True}], "now": 5000})
        done = self.receive()
        self.assertEqual(done, {"type": "done", "id": 7, "outcome": {"outcome": "complete", "output": "Hello, Ada!"}, "reached": 1})
        self.send({"type": "ping", "id": 3})
        self.assertEqual(self.receive()["type"], "pong")
        self.send({"type": "shutdown"})

    def test_a_syntax_error_fails_the_load_with_its_line(self):
        self.receive()
        self.send({"type": "load", "id": 2, "hash": "h2", "source": "def workflow(input, ctx)\n    return 1\n", "filename": "bad.py", "directory": PYTHON_DIR})
        loaded = self.receive()
        self.assertFalse(loaded["ok"])
        self.assertEqual(loaded["error"]["code"], "WORKFLOW_LOAD_FAILED")
        self.assertIn("bad.py:1", loaded["error"]["message"])
        self.send({"type": "shutdown"})


if __name__ == "__main__":
    unittest.main()
