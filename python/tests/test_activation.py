import asyncio
import unittest

from support import T0, MemoryWorker, activate, claimed, recorded

from kiln_runtime.activation import COMPENSATION_SEQ


class ActivationTest(unittest.TestCase):
    def test_runs_new_steps_and_records_them_in_order(self):
        worker = MemoryWorker()

        def wf(input, ctx):
            a = ctx.step("a", lambda: input["n"] + 1)
            return ctx.step("b", lambda: a * 10)

        outcome = activate(wf, claimed(input={"n": 1}), worker)
        self.assertEqual(outcome, {"outcome": "complete", "output": 20})
        self.assertEqual([(s["name"], s["seq"], s["status"], s["output"]) for s in worker.saved()], [("a", 0, "completed", 2), ("b", 1, "completed", 20)])
        self.assertTrue(all(s["leaseToken"] == 1 for s in worker.saved()), "every write carries the lease token")

    def test_replays_recorded_steps_without_running_them(self):
        worker = MemoryWorker()
        ran = []

        def wf(input, ctx):
            a = ctx.step("a", lambda: ran.append("a") or 99)
            return ctx.step("b", lambda: a + 1)

        outcome = activate(wf, claimed([recorded("a", 0, 5)]), worker)
        self.assertEqual(outcome["output"], 6)
        self.assertEqual(ran, [])
        self.assertEqual([s["name"] for s in worker.saved()], ["b"])

    def test_repeated_names_get_a_suffix(self):
        worker = MemoryWorker()

        def wf(input, ctx):
            return [ctx.step("fetch", lambda: i) for i in range(3)]

        activate(wf, claimed(), worker)
        self.assertEqual([s["name"] for s in worker.saved()], ["fetch", "fetch#2", "fetch#3"])

    def test_a_changed_step_sequence_fails_as_non_deterministic(self):
        def wf(input, ctx):
            ctx.step("refund", lambda: 1)

        outcome = activate(wf, claimed([recorded("charge", 0, 1)]))
        self.assertEqual(outcome["outcome"], "fail")
        self.assertEqual(outcome["error"]["code"], "NON_DETERMINISTIC")
        self.assertEqual(outcome["error"]["data"], {"expected": "charge", "actual": "refund", "position": 0})

    def test_a_sleep_parks_the_run_until_its_wake_time(self):
        worker = MemoryWorker()

        def wf(input, ctx):
            ctx.sleep("nap", "5s")
            return "late"

        self.assertEqual(activate(wf, claimed(), worker), {"outcome": "park", "status": "sleeping", "wakeAt": T0 + 5000})
        self.assertEqual([(s["name"], s["type"], s["status"]) for s in worker.saved()], [("nap", "sleep", "waiting")])

    def test_a_failed_attempt_with_retries_left_parks_until_its_retry(self):
        worker = MemoryWorker()

        def wf(input, ctx):
            def flaky():
                raise RuntimeError("down")

            ctx.step("flaky", flaky, retry={"max_attempts": 2, "initial_interval": 2})

        outcome = activate(wf, claimed(), worker)
        self.assertEqual(outcome, {"outcome": "park", "status": "sleeping", "wakeAt": T0 + 2000})
        [attempt] = worker.saved()
        self.assertEqual((attempt["status"], attempt["attempt"], attempt["wakeAt"]), ("running", 1, T0 + 2000))
        self.assertEqual(attempt["error"]["message"], "RuntimeError: down")

    def test_parallel_branches_record_their_steps_in_call_order(self):
        worker = MemoryWorker()

        async def wf(input, ctx):
            return await asyncio.gather(ctx.step("a", lambda: 1), ctx.step("b", lambda: 2))

        self.assertEqual(activate(wf, claimed(), worker)["output"], [1, 2])
        self.assertEqual([(s["name"], s["seq"]) for s in worker.saved()], [("a", 0), ("b", 1)])

    def test_compensation_undoes_completed_steps_in_reverse_order(self):
        worker = MemoryWorker()
        undone = []

        def wf(input, ctx):
            ctx.step("flight", lambda: "F1", compensate=lambda out: undone.append(out))
            ctx.step("hotel", lambda: "H1", compensate=lambda out: undone.append(out))
            ctx.step("car", lambda: "never")

        history = [recorded("flight", 0, "F1", compensable=True), recorded("hotel", 1, "H1", compensable=True)]
        outcome = activate(wf, claimed(history, status="compensating"), worker)
        self.assertEqual(outcome, {"outcome": "compensated"})
        self.assertEqual(undone, ["H1", "F1"])
        saved = [(s["name"], s["type"], s["compensates"], s["seq"]) for s in worker.saved()]
        self.assertEqual(
            saved,
            [
                ("compensate:hotel", "compensation", "hotel", COMPENSATION_SEQ + COMPENSATION_SEQ - 2),
                ("compensate:flight", "compensation", "flight", COMPENSATION_SEQ + COMPENSATION_SEQ - 1),
            ],
        )

    def test_a_refused_fenced_write_gives_the_run_back(self):
        worker = MemoryWorker()
        worker.answers["saveSteps"] = lambda p: [{"ok": False, "error": {"code": "LEASE_LOST", "message": "stale"}}]

        def wf(input, ctx):
            return ctx.step("a", lambda: 1)

        outcome = activate(wf, claimed(), worker)
        self.assertEqual(outcome, {"outcome": "abandoned", "error": {"code": "LEASE_LOST", "message": "stale"}})


if __name__ == "__main__":
    unittest.main()
