import unittest

from support import T0  # noqa: F401 - puts the package on sys.path

from kiln_runtime.deterministic import seeded_random, uuid_from
from kiln_runtime.durations import decide_retry, resolve_retry, to_ms
from kiln_runtime.errors import KilnError


class DurationsTest(unittest.TestCase):
    def test_numbers_are_seconds_and_texts_have_units(self):
        self.assertEqual(to_ms(5), 5000)
        self.assertEqual(to_ms(0.25), 250)
        self.assertEqual(to_ms("1h30m"), 5_400_000)
        self.assertEqual(to_ms("250ms"), 250)
        for bad in (-1, True, "soon", "5 parsecs"):
            with self.assertRaises(KilnError) as caught:
                to_ms(bad, "timeout")
            self.assertEqual(caught.exception.code, "INVALID_DURATION")

    def test_retry_policies_resolve_and_back_off(self):
        policy = resolve_retry({"max_attempts": 3, "initial_interval": 1, "backoff_coefficient": 2})
        error = {"code": "STEP_FAILED", "message": "x"}
        never = lambda: 0.5  # noqa: E731 - no jitter is configured
        self.assertEqual(decide_retry(policy, 1, error, never), 1000)
        self.assertEqual(decide_retry(policy, 2, error, never), 2000)
        self.assertIsNone(decide_retry(policy, 3, error, never))
        self.assertIsNone(decide_retry(policy, 1, dict(error, retryable=False), never))
        with self.assertRaises(KilnError):
            resolve_retry({"attempts": 3})


class DeterministicTest(unittest.TestCase):
    def test_the_same_sequence_as_the_js_runtime_for_a_run_id(self):
        # Values printed by seededRandom/uuidFrom of src/worker/deterministic.ts for this seed.
        random = seeded_random("01900000-0000-7000-8000-000000000001")
        self.assertEqual([random(), random(), random()], [0.20509062404744327, 0.40931857540272176, 0.07644698093645275])
        self.assertEqual(uuid_from(random), "cd6d12d3-4ccf-419d-a541-dd7146b2808e")


if __name__ == "__main__":
    unittest.main()
