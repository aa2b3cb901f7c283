"""JobStore and UserStore against moto DynamoDB (tables shaped like template.yaml)."""
from __future__ import annotations

import pytest

from gas import jobs as J
from gas.jobs import ResultsState, Status
from gas.store import InvalidCursor, JobStore
from gas.users import Plan, UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

T0 = "2026-11-20T12:00:00.000Z"
T1 = "2026-11-20T12:01:00.000Z"
LATER = "2026-11-20T12:30:00.000Z"


@pytest.fixture
def store(gas_aws) -> JobStore:
    return JobStore(gas_aws.settings)


def new(store: JobStore, user: str = "alice", now: str = T0, job_id: str | None = None) -> J.Job:
    job_id = job_id or J.new_job_id()
    job = J.new_job(user_id=user, input_file="a.vcf", input_key=f"{user}/{job_id}/a.vcf",
                    input_size=10, job_id=job_id, now=now)
    assert store.create(job)
    return job


def completed(store: JobStore, user: str = "alice", now: str = T0) -> J.Job:
    job = new(store, user, now)
    store.claim(job.job_id, "w1", now=now)
    return store.complete(job.job_id, "w1", 5, [f"{user}/{job.job_id}/out.vcf.gz"], now=now)


def test_create_is_idempotent_and_round_trips(store):
    job = new(store)
    assert store.create(job) is False
    got = store.get(job.job_id)
    assert got == job
    assert store.get("0" * 32) is None and store.get("../x") is None


def test_claim_once(store):
    job = new(store)
    first = store.claim(job.job_id, "w1", now=T1)
    assert first.status == Status.RUNNING and first.worker_id == "w1" and first.attempts == 1
    assert store.claim(job.job_id, "w2", now=T1) is None          # live claim held by w1
    assert store.claim(job.job_id, "w1", now=T1) is None          # duplicate delivery, same worker
    assert store.get(job.job_id).worker_id == "w1"


def test_competing_claims_one_winner(store):
    # Sequential on purpose: moto's DynamoDB does not serialise concurrent conditional writes
    # (4 threads claiming at once: 2 winners in 3 of 5 runs). Real DynamoDB does; what we test
    # is that the condition refuses every claim after the first.
    job = new(store)
    results = [store.claim(job.job_id, w, now=T1) for w in ("a", "b", "c", "d")]
    assert [r is not None for r in results] == [True, False, False, False]
    assert store.get(job.job_id).attempts == 1


def test_stale_heartbeat_reclaim(store):
    job = new(store)
    store.claim(job.job_id, "w1", now=T0)
    assert store.heartbeat(job.job_id, "w1", 0.25, now=T1)
    assert store.claim(job.job_id, "w2", now="2026-11-20T12:05:59.999Z", stale_after_s=300) is None
    taken = store.claim(job.job_id, "w2", now=LATER, stale_after_s=300)
    assert taken.worker_id == "w2" and taken.attempts == 2 and taken.progress == 0
    # the old worker learns it lost the claim and cannot finish
    assert store.heartbeat(job.job_id, "w1", 0.5, now=LATER) is False
    assert store.complete(job.job_id, "w1", 1, []) is None
    assert store.fail(job.job_id, "oops", worker_id="w1") is None
    assert store.get(job.job_id).worker_id == "w2"


def test_complete_only_by_claimer_and_idempotent(store):
    job = new(store)
    assert store.complete(job.job_id, "w1", 1, []) is None          # not claimed
    store.claim(job.job_id, "w1", now=T0)
    assert store.complete(job.job_id, "w2", 1, []) is None          # not the claimer
    keys = [f"alice/{job.job_id}/out.vcf.gz", f"alice/{job.job_id}/out.parquet"]
    done = store.complete(job.job_id, "w1", 1234, keys, now=T1)
    assert done.status == Status.COMPLETED and done.variants == 1234 and done.result_keys == keys
    assert done.results_state == ResultsState.AVAILABLE and done.progress == 1.0
    assert store.complete(job.job_id, "w1", 1234, keys) == done     # retried call: same answer
    assert store.complete(job.job_id, "w2", 1, []) is None
    assert store.claim(job.job_id, "w3", now=LATER, stale_after_s=0) is None
    assert store.fail(job.job_id, "late") is None


def test_fail_paths(store):
    poison = new(store)
    failed = store.fail(poison.job_id, "input is not a VCF", now=T1)
    assert failed.status == Status.FAILED and failed.error == "input is not a VCF"
    assert store.fail(poison.job_id, "again") == failed               # redelivery: same answer
    assert store.claim(poison.job_id, "w1") is None

    job = new(store)
    store.claim(job.job_id, "w1", now=T0)
    assert store.fail(job.job_id, "boom", worker_id="w2") is None
    assert store.fail(job.job_id, "boom", worker_id="w1").status == Status.FAILED
    assert store.fail("0" * 32, "missing") is None


def test_heartbeat_validates(store):
    job = new(store)
    assert store.heartbeat(job.job_id, "w1", 0.1) is False           # not claimed
    store.claim(job.job_id, "w1")
    with pytest.raises(ValueError):
        store.heartbeat(job.job_id, "w1", 2.0)


def test_pagination_newest_first(store):
    made = [new(store, now=f"2026-11-20T12:00:{i:02d}.000Z") for i in range(7)]
    new(store, user="bob")
    seen, cursor, pages = [], None, 0
    while True:
        page = store.list_for_user("alice", limit=3, cursor=cursor)
        pages += 1
        seen += page.jobs
        if not page.cursor:
            break
        cursor = page.cursor
    assert pages >= 3
    assert [j.job_id for j in seen] == [j.job_id for j in reversed(made)]
    assert [j.job_id for j in store.iter_for_user("alice", page_size=2)] == [j.job_id for j in reversed(made)]
    # a cursor is bound to its user and cannot be forged into another listing
    first = store.list_for_user("alice", limit=3)
    with pytest.raises(InvalidCursor):
        store.list_for_user("bob", limit=3, cursor=first.cursor)
    with pytest.raises(InvalidCursor):
        store.list_for_user("alice", cursor="!!!not-base64")


def test_ownership(store):
    job = new(store, user="alice")
    assert store.get_for_user(job.job_id, "alice") == job
    assert store.get_for_user(job.job_id, "bob") is None
    assert store.get_for_user("0" * 32, "alice") is None
    assert store.list_for_user("bob").jobs == []


def test_archived_for_user_via_index(store):
    archived = []
    for i in range(5):
        job = completed(store, now=f"2026-11-20T12:00:{i:02d}.000Z")
        if i % 2 == 0:
            archived.append(store.set_results_state(job.job_id, "available", "archived", archived_at=LATER))
    completed(store, user="bob")
    bob_job = completed(store, user="bob")
    store.set_results_state(bob_job.job_id, "available", "archived")
    new(store)  # pending: never in the index query result
    got = list(store.archived_for_user("alice", page_size=1))
    assert {j.job_id for j in got} == {j.job_id for j in archived}
    assert all(j.results_state == ResultsState.ARCHIVED and j.user_id == "alice" for j in got)


def test_set_results_state_races(store):
    job = completed(store)
    assert store.set_results_state(job.job_id, "archived", "restoring") is None   # not archived yet
    with pytest.raises(J.InvalidTransition):
        store.set_results_state(job.job_id, "available", "restoring")
    with pytest.raises(ValueError):
        store.set_results_state(job.job_id, "available", "archived", status="PENDING")
    a = store.set_results_state(job.job_id, "available", "archived", archived_at=T1)
    assert a.results_state == ResultsState.ARCHIVED and a.archived_at == T1
    assert store.set_results_state(job.job_id, "available", "archived") is None    # duplicate archive
    # thaw messages delivered several times: exactly one moves archived -> restoring
    outcomes = [store.set_results_state(job.job_id, "archived", "restoring", restore_tier=tier,
                                        restore_requested_at=LATER)
                for tier in ("Expedited", "Standard", "Expedited")]
    assert [o is not None for o in outcomes] == [True, False, False]
    back = store.set_results_state(job.job_id, "restoring", "available", restored_at=LATER)
    assert back.results_state == ResultsState.AVAILABLE and back.restore_tier == "Expedited"
    pending = new(store)
    assert store.set_results_state(pending.job_id, "none", "available") is None  # not COMPLETED


def test_users(gas_aws):
    users = UserStore(gas_aws.settings)
    alice = users.add("alice", "alice@example.org")
    assert alice.plan == Plan.FREE and users.get(alice.user_id) == alice
    assert users.add("Alice", "other@example.org") is None                  # names are unique
    assert users.add("carol", "c@example.org", user_id=alice.user_id) is None  # ids are unique
    assert users.by_name("ALICE") == alice
    assert users.by_name("nobody") is None
    assert users.get("name#alice") is None                                  # guard items are not users
    assert users.set_plan(alice.user_id, "premium") is True
    assert users.set_plan(alice.user_id, "premium") is False                # no change: no second thaw
    assert users.plan(alice.user_id) == Plan.PREMIUM
    assert users.set_plan(alice.user_id, "free", expected="free") is False  # compare-and-set
    assert users.set_plan(alice.user_id, "free", expected="premium") is True
    assert users.set_plan("ghost", "premium") is False
    with pytest.raises(ValueError):
        users.add("dave", "not-an-email")
    sub = users.add("erin", "erin@example.org", plan="premium", user_id="3f2a9c1e-0b7d-4c5e-9a8b-1234567890ab")
    assert users.get(sub.user_id).plan == Plan.PREMIUM
