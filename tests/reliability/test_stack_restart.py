"""Stop and start the whole embedded stack while jobs are queued and running.

Clean stop (SIGTERM to `gas up`, what Ctrl-C does): the workers get SIGTERM (a job finishing within
the stack's 10 s wait completes; one that does not is killed and re-run), the pollers stop, a last
snapshot is written. After `gas up` again every job completes, exactly once, one email each.

Crash (`kill -9` of `gas up` and its workers, no final snapshot): the periodic snapshot (every 5 s)
is all that survives, so the last seconds of changes are lost by design (docs/local-stack.md).
Measured: every job submitted more than a snapshot interval before the crash completes after the
restart; a job finished in the last interval before the crash is run again and may be emailed again.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.harness import Stack, full_run, record, synthetic_vcf, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.reliability_slow]

EXTRA = ["--archive-delay", "3600", "--request-visibility", "10"]
SNAPSHOT_S = 5.0


def _states(stack: Stack) -> dict[str, int]:
    out: dict[str, int] = {}
    for it in stack.jobs().values():
        out[it["status"]] = out.get(it["status"], 0) + 1
    return out


def _submit(stack: Stack, inputs: list[Path], n: int, sizes: dict[str, int]) -> dict[str, int]:
    stack.gas("users", "add", "alice", "--email", "alice@example.org", check=False)
    client = stack.client("alice")
    out = {}
    for i in range(n):
        src = inputs[i % len(inputs)]
        out[client.submit(src, wait=False)["job_id"]] = sizes[src.name]
    return out


def _finish(stack: Stack, submitted: dict[str, int], timeout_s: float = 300) -> tuple[dict, dict]:
    wait_until(lambda: all(stack.jobs().get(j, {}).get("status") in ("COMPLETED", "FAILED") for j in submitted),
               timeout_s, check=False)
    wait_until(lambda: all(c >= 1 for c in stack.emails_by_job(set(submitted)).values()), 60, check=False)
    time.sleep(3)
    return stack.jobs(), stack.emails_by_job(set(submitted))


def test_clean_stop_and_start_mid_flight_loses_and_repeats_nothing(tmp_path: Path) -> None:
    n_jobs, records, cycles = (20, 100_000, 3) if full_run() else (8, 60_000, 1)
    inputs = [synthetic_vcf(tmp_path / f"in{i}.vcf.gz", records + 500 * i, seed=40 + i) for i in range(2)]
    sizes = {p.name: records + 500 * i for i, p in enumerate(inputs)}
    data = tmp_path / "data"
    t0 = time.monotonic()
    stack = Stack(data, tmp_path / "up0.log", workers=2, extra=EXTRA)
    at_stop = []
    try:
        submitted = _submit(stack, inputs, n_jobs, sizes)
        for cycle in range(cycles):
            done_before = sum(1 for j in submitted if stack.jobs()[j]["status"] == "COMPLETED")
            seen: list[dict] = []

            def mid_flight(stack: Stack = stack, done_before: int = done_before, seen: list = seen) -> bool:
                s = _states(stack)
                seen.append(s)
                return s.get("RUNNING", 0) >= 1 and s.get("COMPLETED", 0) >= done_before + 1
            wait_until(mid_flight, 120, poll_s=0.3, what="jobs running and done")
            # the states that decided the stop (read again, a ~1 s job may have finished meanwhile)
            at_stop.append(seen[-1])
            stack.stop()
            assert "Traceback" not in stack.log.read_text()
            stack = Stack(data, tmp_path / f"up{cycle + 1}.log", workers=2, extra=EXTRA)
        items, emails = _finish(stack, submitted)
        wall = time.monotonic() - t0
        lost = [j for j in submitted if items.get(j, {}).get("status") != "COMPLETED"]
        objects = stack.result_objects()
        record("stack_restart_clean", jobs=n_jobs, records_per_job=records, restarts=cycles, states_at_stop=at_stop,
               lost=len(lost), duplicate_emails=sum(c - 1 for c in emails.values() if c > 1),
               missing_emails=sum(1 for c in emails.values() if c == 0),
               reruns=sum(int(items[j]["attempts"]) for j in submitted) - n_jobs,
               wrong_result_sets=sum(1 for j in submitted if len(objects.get(j, [])) != 5), wall_s=round(wall, 1))
        assert not lost, {j: items.get(j, {}).get("status") for j in lost}
        assert emails == dict.fromkeys(submitted, 1), emails
        for j, n in submitted.items():
            assert int(items[j]["variants"]) == n
            assert sorted(objects[j]) == sorted(x["S"] for x in items[j]["result_keys"])
        assert all(v == 0 for v in stack.queue_depths().values())
        assert all(s.get("RUNNING", 0) >= 1 for s in at_stop)      # the stops really were mid-flight
    finally:
        stack.stop()


def test_crash_of_the_whole_stack_loses_nothing_older_than_a_snapshot(tmp_path: Path) -> None:
    n_jobs, records = (20, 100_000) if full_run() else (12, 80_000)
    inputs = [synthetic_vcf(tmp_path / f"in{i}.vcf.gz", records + 500 * i, seed=50 + i) for i in range(2)]
    sizes = {p.name: records + 500 * i for i, p in enumerate(inputs)}
    data = tmp_path / "data"
    t0 = time.monotonic()
    stack = Stack(data, tmp_path / "up0.log", workers=2, extra=EXTRA)
    try:
        submitted = _submit(stack, inputs, n_jobs, sizes)
        time.sleep(SNAPSHOT_S + 1.5)               # every submission is in a snapshot
        wait_until(lambda: (s := _states(stack)).get("COMPLETED", 0) >= 2 and s.get("RUNNING", 0) >= 1,
                   120, poll_s=0.3, what="jobs running and done")
        before = stack.jobs()
        emailed_before = {j for j, c in stack.emails_by_job(set(submitted)).items() if c}
        pids = [stack.info()["pid"], *stack.workers().values()]
        t_crash = time.time()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        stack.proc.wait(timeout=10)
        stack = Stack(data, tmp_path / "up1.log", workers=2, extra=EXTRA)
        items, emails = _finish(stack, submitted)
        wall = time.monotonic() - t0
        lost = [j for j in submitted if items.get(j, {}).get("status") != "COMPLETED"]
        dups = {j for j, c in emails.items() if c > 1}
        # a duplicate is only allowed for a job whose first email went out in the last interval:
        # emailed shortly before the crash, or RUNNING when we looked (it may have finished and
        # emailed in the moments between that look and the kill; seen at 10:38 UTC, 2 such jobs)
        recent = {j for j in emailed_before if before[j].get("completed_at", "") and
                  _epoch(before[j]["completed_at"]) > t_crash - SNAPSHOT_S - 1.5}
        recent |= {j for j, it in before.items() if j in submitted and it["status"] == "RUNNING"}
        record("stack_crash", jobs=n_jobs, records_per_job=records,
               states_at_crash={s: sum(1 for it in before.values() if it["status"] == s)
                                for s in ("PENDING", "RUNNING", "COMPLETED")},
               lost=len(lost), duplicate_emails=sum(c - 1 for c in emails.values() if c > 1),
               finished_in_last_interval=len(recent),
               reruns=sum(int(items[j]["attempts"]) for j in submitted) - n_jobs, wall_s=round(wall, 1))
        assert not lost, {j: items.get(j, {}).get("status") for j in lost}
        assert all(c >= 1 for c in emails.values()), emails
        assert dups <= recent, (dups, recent)
        assert any(it["status"] != "COMPLETED" for it in before.values())   # the crash was mid-flight
    finally:
        stack.stop()


def _epoch(iso: str) -> float:
    from gas.jobs import parse_iso
    return parse_iso(iso).timestamp()
