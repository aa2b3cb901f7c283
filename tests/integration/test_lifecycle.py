"""gas.lifecycle against moto: archive a free user's results, subscribe, thaw, restore."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from gas import jobs as J
from gas import lifecycle as L
from gas import messages as M
from gas import storage as S
from gas.jobs import ResultsState
from gas.store import JobStore
from gas.users import Plan, UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

OUTPUTS = ["s.annotated.vcf.gz", "s.parquet", "s.transcripts.parquet", "s.summary.json", "s.log"]


def _completed_job(env, user_id: str):
    st = env.settings
    jobs = JobStore(st)
    job_id = J.new_job_id()
    job = J.new_job(user_id=user_id, input_file="s.vcf", input_key=f"{user_id}/{job_id}/s.vcf",
                    input_size=10, job_id=job_id)
    assert jobs.create(job)
    keys = [S.result_key(user_id, job_id, name) for name in OUTPUTS]
    for key in keys:
        env.s3.put_object(Bucket=st.results_bucket, Key=key, Body=b"data:" + key.encode())
    assert jobs.claim(job_id, "w1")
    assert jobs.complete(job_id, "w1", 3, keys)
    return jobs, job_id, keys


def _classes(env, keys):
    return {S.storage_class(env.settings.results_bucket, k, s3=env.s3) for k in keys}


def _thaw_requests(env):
    return [M.parse_record(m, M.ThawRequest) for m in env.receive("thaw_queue", wait_s=0)]


def _restore_events(env):
    events = []
    for m in env.receive("restore_queue", wait_s=0):
        events += M.restore_events(m)
    return events


def test_archive_subscribe_thaw_restore(gas_aws):
    env, st = gas_aws, gas_aws.settings
    user = UserStore(st).add("freda", "freda@example.org", Plan.FREE)
    jobs, job_id, keys = _completed_job(env, user.user_id)
    req = M.ArchiveRequest(job_id=job_id, user_id=user.user_id)

    assert L.archive_job(req, st) == ResultsState.ARCHIVED
    job = jobs.get(job_id)
    assert job.results_state == ResultsState.ARCHIVED and job.archived_at
    assert _classes(env, keys) == {"GLACIER"}
    with pytest.raises(ClientError) as exc:
        env.s3.get_object(Bucket=st.results_bucket, Key=keys[0])
    assert exc.value.response["Error"]["Code"] == "InvalidObjectState"

    assert L.archive_job(req, st) == ResultsState.ARCHIVED       # redelivery: no change
    assert jobs.get(job_id) == job
    assert _thaw_requests(env) == []                              # still free: no thaw

    assert L.subscribe(user.user_id, st) == 1
    assert UserStore(st).plan(user.user_id) == Plan.PREMIUM
    thaws = _thaw_requests(env)
    assert [(t.job_id, t.user_id) for t in thaws] == [(job_id, user.user_id)]

    assert L.thaw_job(thaws[0], st) == ResultsState.RESTORING
    job = jobs.get(job_id)
    assert job.results_state == ResultsState.RESTORING
    assert job.restore_tier == "Expedited" and job.restore_requested_at
    assert L.thaw_job(thaws[0], st) == ResultsState.RESTORING     # redelivery: no-op
    assert L.subscribe(user.user_id, st) == 0                     # nothing archived any more

    # moto finishes a restore at once; the head_object emits s3:ObjectRestore:Completed
    for key in keys:
        assert S.restore_status(st.results_bucket, key, s3=env.s3) is not None
    events = _restore_events(env)
    assert sorted(e.key for e in events) == sorted(keys)
    for i, event in enumerate(events):
        state = L.complete_restore(event, st)
        assert state == (ResultsState.AVAILABLE if i == len(events) - 1 else ResultsState.RESTORING)
    job = jobs.get(job_id)
    assert job.results_state == ResultsState.AVAILABLE and job.restored_at
    assert _classes(env, keys) == {"STANDARD"}
    body = env.s3.get_object(Bucket=st.results_bucket, Key=keys[1])["Body"].read()
    assert body == b"data:" + keys[1].encode()
    assert L.complete_restore(events[0], st) == ResultsState.AVAILABLE  # duplicate event
    assert jobs.get(job_id) == job


def test_premium_user_is_not_archived(gas_aws):
    env, st = gas_aws, gas_aws.settings
    user = UserStore(st).add("petra", "petra@example.org", Plan.PREMIUM)
    jobs, job_id, keys = _completed_job(env, user.user_id)
    assert L.archive_job(M.ArchiveRequest(job_id=job_id, user_id=user.user_id), st) == ResultsState.AVAILABLE
    assert jobs.get(job_id).results_state == ResultsState.AVAILABLE
    assert _classes(env, keys) == {"STANDARD"}


def test_upgrade_while_archiving_ends_with_a_thaw(gas_aws, monkeypatch):
    env, st = gas_aws, gas_aws.settings
    users = UserStore(st)
    user = users.add("uma", "uma@example.org", Plan.FREE)
    _jobs, job_id, _keys = _completed_job(env, user.user_id)
    real_move = S.move_to_glacier
    calls = []

    def move_then_upgrade(bucket, key, *, s3=None):
        calls.append(key)
        if len(calls) == 1:   # the user subscribes while the objects are moving
            assert L.subscribe(user.user_id, st) == 0   # not archived yet: nothing to thaw
        return real_move(bucket, key, s3=s3)

    monkeypatch.setattr(S, "move_to_glacier", move_then_upgrade)
    assert L.archive_job(M.ArchiveRequest(job_id=job_id, user_id=user.user_id), st) == ResultsState.ARCHIVED
    assert [(t.job_id, t.user_id) for t in _thaw_requests(env)] == [(job_id, user.user_id)]


def test_other_users_job_and_wrong_key_ignored(gas_aws):
    env, st = gas_aws, gas_aws.settings
    user = UserStore(st).add("olga", "olga@example.org", Plan.FREE)
    jobs, job_id, _keys = _completed_job(env, user.user_id)
    assert L.archive_job(M.ArchiveRequest(job_id=job_id, user_id="mallory"), st) is None
    assert jobs.get(job_id).results_state == ResultsState.AVAILABLE
    with pytest.raises(LookupError):
        L.subscribe("nobody", st)
    event = M.RestoreEvent(bucket=st.results_bucket, key=f"{user.user_id}/{job_id}/other.txt",
                           user_id=user.user_id, job_id=job_id)
    assert L.complete_restore(event, st) == ResultsState.AVAILABLE   # not a result: ignored


def test_cli_subscribe(gas_aws, monkeypatch, capsys):
    """`gas subscribe NAME --json`, with the stack lookup pointed at this moto."""
    import contextlib

    import gas.client
    from gas.cli import main

    env, st = gas_aws, gas_aws.settings
    user = UserStore(st).add("carl", "carl@example.org", Plan.FREE)
    _jobs, job_id, _keys = _completed_job(env, user.user_id)
    L.archive_job(M.ArchiveRequest(job_id=job_id, user_id=user.user_id), st)
    monkeypatch.setattr(gas.client, "stack_info", lambda data_dir: {"ready": True, "env": {}})
    monkeypatch.setattr(gas.client, "stack_environment", lambda e: contextlib.nullcontext())
    assert main(["subscribe", "carl", "--json"]) == 0
    out = __import__("json").loads(capsys.readouterr().out)
    assert out == {"user_id": user.user_id, "name": "carl", "plan": "premium", "thaw_requests": 1}
    assert [t.job_id for t in _thaw_requests(env)] == [job_id]
    assert main(["subscribe", "nobody"]) == 1
    assert "no such user" in capsys.readouterr().err
