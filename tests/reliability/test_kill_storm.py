"""`kill -9` of workers at random points across many jobs: every job completes exactly once.

`gas up --workers 2 --request-visibility 10`: a killed worker's message reappears at most 10 s after
its last heartbeat and the job is stale (re-claimable) 6 s after it (gas.local.stack.local_stale_after).
A seeded RNG picks when (every 3-7 s) and which worker to SIGKILL, from the first submission until
most jobs are done; the stack's supervisor restarts each worker. Kills land wherever the worker is:
starting up, long-polling, downloading, annotating, uploading, completing, publishing.

Checked afterwards, per job: COMPLETED with every record, exactly the five result objects, equal to
its `result_keys` - or, if its worker was killed on every delivery up to the queue's last
(maxReceiveCount 5), FAILED with the reason (annotator.jobrun `_give_up`), never left RUNNING;
exactly one email in the outbox; every queue and DLQ empty. Measured: jobs, kills (and how many hit
a running job), re-runs, losses, duplicates, wall time.
"""
from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.reliability.harness import (
    GIVE_UP,
    HOST,
    Stack,
    full_run,
    record,
    synthetic_vcf,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability_slow]

SEED = 6
VISIBILITY_S = 10


def _is_worker(pid: int) -> bool:
    try:
        return b"annotator.worker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def test_kill_9_workers_at_random_points_every_job_completes_exactly_once(tmp_path: Path) -> None:
    n_jobs, records, max_kills = (40, 200_000, 20) if full_run() else (8, 60_000, 4)
    inputs = [synthetic_vcf(tmp_path / f"in{i}.vcf.gz", records + 1000 * i, seed=i) for i in range(3)]
    sizes = {p.name: records + 1000 * i for i, p in enumerate(inputs)}
    rng = random.Random(SEED)
    t0 = time.monotonic()
    stack = Stack(tmp_path / "data", tmp_path / "up.log", workers=2,
                  extra=["--archive-delay", "3600", "--request-visibility", str(VISIBILITY_S)])
    kills: list[dict] = []
    stop_killing = threading.Event()
    submitted: dict[str, int] = {}

    errors: list[BaseException] = []

    def killer() -> None:
        try:
            kill_loop()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    def kill_loop() -> None:
        while not stop_killing.wait(rng.uniform(3.0, 7.0)) and len(kills) < max_kills:
            name = rng.choice(sorted(stack.workers()))
            pid = stack.workers()[name]
            if not _is_worker(pid):
                continue                           # being restarted: nothing to kill right now
            running = [j for j, it in stack.jobs().items()
                       if it["status"] == "RUNNING" and it.get("worker_id") == f"{HOST}-{pid}"]
            os.kill(pid, signal.SIGKILL)
            kills.append({"t": round(time.monotonic() - t0, 1), "worker": name, "pid": pid, "jobs": running})

    try:
        stack.gas("users", "add", "alice", "--email", "alice@example.org")
        stack.gas("users", "add", "bob", "--email", "bob@example.org", "--plan", "premium")
        clients = {u: stack.client(u) for u in ("alice", "bob")}
        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        for i in range(n_jobs):
            src = inputs[i % len(inputs)]
            job = clients[("alice", "bob")[i % 2]].submit(src, wait=False)
            submitted[job["job_id"]] = sizes[src.name]

        def mostly_done() -> bool:
            done = sum(1 for it in stack.jobs().values() if it["status"] in ("COMPLETED", "FAILED"))
            return done >= 0.9 * n_jobs or len(kills) >= max_kills
        wait_until(mostly_done, 600, what="90% of the jobs finished")
        stop_killing.set()
        thread.join(timeout=30)
        finished = wait_until(lambda: all(it["status"] in ("COMPLETED", "FAILED") for it in stack.jobs().values()),
                              240, check=False)
        if finished:
            wait_until(lambda: all(c >= 1 for c in stack.emails_by_job(set(submitted)).values()), 60, check=False)
            time.sleep(3)                          # a duplicate email would be out by now
        wall = time.monotonic() - t0

        items = stack.jobs()
        objects = stack.result_objects()
        emails = stack.emails_by_job(set(submitted))
        depths = stack.queue_depths()
        mid_job = [k for k in kills if k["jobs"]]
        hit = {j for k in kills for j in k["jobs"]}
        completed = [j for j in submitted if items[j]["status"] == "COMPLETED"]
        gave_up = [j for j in submitted if items[j]["status"] == "FAILED" and GIVE_UP in items[j].get("error", "")]
        lost = [j for j in submitted if j not in completed and j not in gave_up]
        dup_emails = sum(c - 1 for c in emails.values() if c > 1)
        wrong_results = [j for j in completed if len(objects.get(j, [])) != 5]
        reruns = sum(int(items[j]["attempts"]) for j in submitted) - n_jobs
        record("kill_storm", jobs=n_jobs, records_per_job=records, kills=len(kills), kills_mid_job=len(mid_job),
               jobs_hit=len(hit), max_kills_one_job=max([sum(j in k["jobs"] for k in kills) for j in submitted]),
               reruns=reruns, completed=len(completed), failed_after_repeated_kills=len(gave_up), lost=len(lost),
               duplicate_emails=dup_emails, wrong_result_sets=len(wrong_results),
               dlq_messages=sum(v for k, v in depths.items() if k.endswith("-dlq")),
               wall_s=round(wall, 1), seed=SEED, request_visibility_s=VISIBILITY_S)

        assert not errors, errors
        assert not lost, {j: (items[j]["status"], items[j].get("attempts")) for j in lost}
        for j in completed:
            it = items[j]
            assert int(it["variants"]) == submitted[j], it
            keys = sorted(objects[j])
            assert len(keys) == 5 and keys == sorted(x["S"] for x in it["result_keys"]), (j, keys)
        for j in gave_up:          # killed on every delivery up to the last: FAILED with the reason, never lost
            assert int(items[j]["attempts"]) >= 4, items[j]
        assert emails == dict.fromkeys(submitted, 1), emails
        assert all(v == 0 for v in depths.values()), depths
        for j in hit:                                # a job whose worker died was run again
            assert int(items[j]["attempts"]) >= 2, items[j]
        assert len(kills) >= (6 if full_run() else 2), kills
        assert "restarting" in stack.log.read_text()
    finally:
        stop_killing.set()
        stack.stop()
