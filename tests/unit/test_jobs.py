"""The job model and its transitions (pure, no AWS)."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gas import jobs as J
from gas.jobs import InvalidTransition, ResultsState, Status

T0 = "2026-11-20T12:00:00.000Z"
T1 = "2026-11-20T12:01:00.000Z"
LATER = "2026-11-20T12:30:00.000Z"


def make(**kw) -> J.Job:
    base = {"user_id": "alice", "input_file": "my sample.vcf", "input_key": "alice/x/my_sample.vcf",
                "input_size": 10, "now": T0}
    base.update(kw)
    return J.new_job(**base)


ALLOWED = {("PENDING", "RUNNING"), ("PENDING", "FAILED"), ("RUNNING", "RUNNING"),
           ("RUNNING", "COMPLETED"), ("RUNNING", "FAILED")}


@pytest.mark.parametrize("old,new", list(itertools.product([s.value for s in Status], repeat=2)))
def test_status_transition_table(old, new):
    assert J.can_transition(old, new) == ((old, new) in ALLOWED)


RESULTS_ALLOWED = {("none", "available"), ("available", "archived"), ("archived", "restoring"),
                   ("restoring", "available")}


@pytest.mark.parametrize("old,new", list(itertools.product([s.value for s in ResultsState], repeat=2)))
def test_results_transition_table(old, new):
    assert J.can_transition_results(old, new) == ((old, new) in RESULTS_ALLOWED)


def test_sources_of():
    assert set(J.sources_of(Status.FAILED)) == {Status.PENDING, Status.RUNNING}
    assert set(J.sources_of(Status.RUNNING)) == {Status.PENDING, Status.RUNNING}
    assert J.sources_of(Status.PENDING) == []


def test_job_ids_sort_by_time_and_are_unique():
    a = J.new_job_id(now_ms=1_700_000_000_000)
    b = J.new_job_id(now_ms=1_700_000_000_001)
    assert a < b and len(a) == 32 and J.JOB_ID_RE.match(a)
    assert J.job_id_time(a) == datetime.fromtimestamp(1_700_000_000, UTC)
    assert len({J.new_job_id(now_ms=5) for _ in range(1000)}) == 1000


def test_timestamps_fixed_width_and_ordered():
    assert J.to_iso(datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)) == "2026-01-02T03:04:05.006Z"
    assert J.to_iso(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"
    assert J.iso_minus(T1, 60) == T0
    assert J.parse_iso(T0) == datetime(2026, 11, 20, 12, tzinfo=UTC)
    now = J.now_iso()
    assert len(now) == 24 and now.endswith("Z")
    with pytest.raises(ValidationError):
        make(now="2026-11-20 12:00:00")


def test_model_validation():
    with pytest.raises(ValidationError):
        J.Job(job_id="not-hex", user_id="u", input_file="a", input_key="k", input_size=1, submitted_at=T0)
    with pytest.raises(ValidationError):
        make(user_id="../bob")
    job = make()
    with pytest.raises(ValidationError):
        job.progress = 1.5
    # unknown attributes from a newer writer are ignored, not fatal
    assert J.Job.model_validate({**job.to_item(), "future_field": 1}).job_id == job.job_id
    item = job.to_item()
    assert item["status"] == "PENDING" and item["results_state"] == "none" and "started_at" not in item


def test_happy_path():
    job = make()
    running = J.claim(job, "w1", T1, stale_after_s=300)
    assert running.status == Status.RUNNING and running.worker_id == "w1" and running.attempts == 1
    beat = J.heartbeat(running, "w1", 0.5, T1)
    assert beat.progress == 0.5
    done = J.complete(beat, "w1", variants=42, result_keys=["alice/x/out.vcf.gz"], now=LATER)
    assert done.status == Status.COMPLETED and done.results_state == ResultsState.AVAILABLE
    assert done.progress == 1.0 and done.variants == 42 and done.terminal
    archived = J.set_results_state(done, "available", "archived", archived_at=LATER)
    restoring = J.set_results_state(archived, "archived", "restoring", restore_tier="Expedited",
                                    restore_requested_at=LATER)
    back = J.set_results_state(restoring, "restoring", "available", restored_at=LATER)
    assert back.results_state == ResultsState.AVAILABLE and back.restore_tier == "Expedited"


def test_claim_live_and_stale():
    running = J.claim(make(), "w1", T0, stale_after_s=300)
    with pytest.raises(InvalidTransition):
        J.claim(running, "w2", T1, stale_after_s=300)          # heartbeat 60 s old: live
    taken = J.claim(running, "w2", LATER, stale_after_s=300)   # 30 min old: stale
    assert taken.worker_id == "w2" and taken.attempts == 2


def test_forbidden_moves():
    job = make()
    with pytest.raises(InvalidTransition):
        J.complete(job, "w1", 1, [], T1)                       # PENDING -> COMPLETED
    with pytest.raises(InvalidTransition):
        J.heartbeat(job, "w1", 0.1, T1)                        # not claimed
    running = J.claim(job, "w1", T0, 300)
    with pytest.raises(InvalidTransition):
        J.complete(running, "w2", 1, [], T1)                   # not the claimer
    with pytest.raises(InvalidTransition):
        J.fail(running, "x", T1, worker_id="w2")
    done = J.complete(running, "w1", 1, [], T1)
    for move in (lambda: J.claim(done, "w3", LATER, 0), lambda: J.fail(done, "x", LATER),
                 lambda: J.complete(done, "w1", 1, [], LATER)):
        with pytest.raises(InvalidTransition):
            move()
    with pytest.raises(InvalidTransition):
        J.set_results_state(done, "available", "restoring")   # skips archived
    with pytest.raises(InvalidTransition):
        J.set_results_state(done, "archived", "restoring")    # wrong expected state
    with pytest.raises(InvalidTransition):
        J.set_results_state(job, "none", "available")         # not completed
    with pytest.raises(ValueError):
        J.set_results_state(done, "available", "archived", status="PENDING")
    with pytest.raises(ValidationError):
        J.set_results_state(J.set_results_state(done, "available", "archived"), "archived", "restoring",
                            restore_tier="Instant")


def test_poison_fail_from_pending_and_progress_bounds():
    failed = J.fail(make(), "input is not a VCF", T1)
    assert failed.status == Status.FAILED and failed.error == "input is not a VCF"
    running = J.claim(make(), "w1", T0, 300)
    with pytest.raises(ValueError):
        J.heartbeat(running, "w1", 1.01, T1)
