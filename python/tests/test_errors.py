import glob
import os
import re
import unittest

from support import activate, claimed  # noqa: F401 - puts the package on sys.path

from kiln_runtime.error_codes import ERROR_CODES, NON_RETRYABLE_CODES
from kiln_runtime.errors import KilnError, deserialize_error, serialize_error

PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kiln_runtime")


class ErrorCodesTest(unittest.TestCase):
    def test_every_code_the_runtime_raises_is_a_kiln_code(self):
        for path in glob.glob(os.path.join(PACKAGE, "*.py")):
            if path.endswith("error_codes.py"):
                continue
            with open(path, encoding="utf-8") as f:
                for code in re.findall(r'"([A-Z][A-Z_]{4,})"', f.read()):
                    self.assertIn(code, ERROR_CODES, "%s uses %s, which src/errors.ts does not define" % (path, code))

    def test_default_retryability_follows_src_errors(self):
        for code in ("PLUGIN_LOAD_FAILED", "WORKFLOW_VERSION_EXISTS", "NON_DETERMINISTIC", "INVALID_INPUT"):
            self.assertFalse(KilnError(code, "x").retryable, code)
        for code in ("STEP_FAILED", "STORE_UNAVAILABLE", "LEASE_LOST"):
            self.assertTrue(KilnError(code, "x").retryable, code)
        self.assertTrue(NON_RETRYABLE_CODES <= set(ERROR_CODES))

    def test_an_unknown_stored_code_comes_back_as_step_failed(self):
        self.assertEqual(deserialize_error({"code": "NOT_A_CODE", "message": "m"}).code, "STEP_FAILED")
        self.assertEqual(deserialize_error({"code": "CHILD_FAILED", "message": "m"}).code, "CHILD_FAILED")

    def test_serializes_kiln_errors_and_others(self):
        self.assertEqual(
            serialize_error(KilnError("EVENT_TIMEOUT", "late", data={"k": 1})),
            {"code": "EVENT_TIMEOUT", "message": "late", "retryable": True, "data": {"k": 1}},
        )
        other = serialize_error(ValueError("bad"), "WORKFLOW_FAILED")
        self.assertEqual((other["code"], other["message"]), ("WORKFLOW_FAILED", "ValueError: bad"))
        self.assertIn("ValueError: bad", other["stack"])


if __name__ == "__main__":
    unittest.main()
