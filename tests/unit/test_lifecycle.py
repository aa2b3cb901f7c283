"""gas.lifecycle with fake stores and a stubbed S3 client: the S3 answers moto never gives
(503 GlacierExpeditedRetrievalNotAvailable, 409 RestoreAlreadyInProgress)."""
from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from gas import jobs as J
from gas import lifecycle as L
from gas import messages as M
from gas.jobs import ResultsState, Status
from gas.settings import Settings

ST = Settings()
USER = "alice"


class FakeJobs:
    """The JobStore methods lifecycle uses, over pure gas.jobs moves."""

    def __init__(self, job: J.Job) -> None:
        self.job = job

    def get(self, job_id):
        return self.job if job_id == self.job.job_id else None

    def set_results_state(self, job_id, expected, new, **fields):
        try:
            self.job = J.set_results_state(self.job, expected, new, **fields)
        except J.InvalidTransition:
            return None
        return self.job


def _archived_job(n_keys: int = 2) -> J.Job:
    job_id = J.new_job_id()
    keys = [f"{USER}/{job_id}/out{i}.txt" for i in range(n_keys)]
    job = J.new_job(user_id=USER, input_file="a.vcf", input_key=f"{USER}/{job_id}/a.vcf",
                    input_size=1, job_id=job_id)
    job = J.Job.model_validate({**job.model_dump(), "status": Status.COMPLETED, "result_keys": keys,
                                "results_state": ResultsState.ARCHIVED, "archived_at": J.now_iso()})
    return job


def _s3():
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return s3, Stubber(s3)


def _req(key: str, tier: str) -> dict:
    return {"Bucket": ST.results_bucket, "Key": key,
            "RestoreRequest": {"Days": 1, "GlacierJobParameters": {"Tier": tier}}}


def test_thaw_falls_back_to_standard_and_accepts_in_progress():
    job = _archived_job()
    jobs = FakeJobs(job)
    s3, stub = _s3()
    k0, k1 = job.result_keys
    stub.add_client_error("restore_object", "GlacierExpeditedRetrievalNotAvailable", http_status_code=503,
                          expected_params=_req(k0, "Expedited"))
    stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 202}},
                      expected_params=_req(k0, "Standard"))
    stub.add_client_error("restore_object", "RestoreAlreadyInProgress", http_status_code=409,
                          expected_params=_req(k1, "Expedited"))
    with stub:
        state = L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=jobs, s3=s3)
        stub.assert_no_pending_responses()
    assert state == ResultsState.RESTORING
    assert jobs.job.results_state == ResultsState.RESTORING
    assert jobs.job.restore_tier == "Standard"       # the slowest tier any object needed
    assert jobs.job.restore_requested_at

    # redelivered: the job is restoring, S3 is not called again (the stub has nothing queued)
    with stub:
        assert L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=jobs, s3=s3) \
            == ResultsState.RESTORING


def test_thaw_expedited_everywhere():
    job = _archived_job()
    jobs = FakeJobs(job)
    s3, stub = _s3()
    for key in job.result_keys:
        stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 202}},
                          expected_params=_req(key, "Expedited"))
    with stub:
        L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=jobs, s3=s3)
    assert jobs.job.restore_tier == "Expedited"


def test_thaw_without_capacity_raises_and_keeps_archived():
    job = _archived_job(1)
    jobs = FakeJobs(job)
    s3, stub = _s3()
    for tier in ("Expedited", "Standard"):
        stub.add_client_error("restore_object", "GlacierExpeditedRetrievalNotAvailable", http_status_code=503,
                              expected_params=_req(job.result_keys[0], tier))
    with stub, pytest.raises(L.RestoreNotReady):
        L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=jobs, s3=s3)
    assert jobs.job.results_state == ResultsState.ARCHIVED   # retried later by SQS


def test_thaw_of_already_restored_objects_finishes_the_job():
    """A 200 (restored copy exists) brings no new S3 event: thaw copies back and finishes."""
    job = _archived_job(1)
    jobs = FakeJobs(job)
    s3, stub = _s3()
    key = job.result_keys[0]
    stub.add_response("restore_object", {"ResponseMetadata": {"HTTPStatusCode": 200}},
                      expected_params=_req(key, "Expedited"))
    stub.add_response("head_object", {"StorageClass": "GLACIER"})          # copy_back_to_standard
    stub.add_response("copy_object", {}, expected_params={
        "Bucket": ST.results_bucket, "Key": key, "CopySource": {"Bucket": ST.results_bucket, "Key": key},
        "StorageClass": "STANDARD", "MetadataDirective": "COPY"})
    stub.add_response("head_object", {})                                     # now STANDARD
    with stub:
        assert L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=jobs, s3=s3) \
            == ResultsState.AVAILABLE
        stub.assert_no_pending_responses()
    assert jobs.job.results_state == ResultsState.AVAILABLE and jobs.job.restored_at


def test_restore_event_before_thaw_recorded_is_retried():
    job = _archived_job(1)
    s3, stub = _s3()
    event = M.RestoreEvent(bucket=ST.results_bucket, key=job.result_keys[0], user_id=USER, job_id=job.job_id)
    with stub, pytest.raises(L.RestoreNotReady):
        L.complete_restore(event, ST, jobs=FakeJobs(job), s3=s3)


def test_thaw_ignores_another_users_job():
    job = _archived_job(1)
    s3, stub = _s3()
    with stub:
        assert L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id="mallory"), ST,
                          jobs=FakeJobs(job), s3=s3) is None


def test_key_outside_the_job_prefix_is_refused():
    job = _archived_job(1)
    job = job.model_copy(update={"result_keys": [f"bob/{job.job_id}/x.txt"]})
    s3, stub = _s3()
    with stub, pytest.raises(ValueError):
        L.thaw_job(M.ThawRequest(job_id=job.job_id, user_id=USER), ST, jobs=FakeJobs(job), s3=s3)
