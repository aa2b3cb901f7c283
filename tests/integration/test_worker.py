"""The worker end to end against in-process moto: SNS -> SQS -> worker -> S3/DynamoDB/SNS/SFN."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from annotator import worker
from annotator.jobrun import RunConfig
from gas import aws
from gas import jobs as J
from gas.jobs import Status
from gas.messages import JobRequest, JobResult, parse_record
from gas.store import JobStore
from gas.users import UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

ASL = Path(__file__).resolve().parents[2] / "statemachines" / "archive.asl.json"


@pytest.fixture
def stack(gas_aws, tiny, monkeypatch):
    """Provisioned moto plus the archive state machine (the fixtures do not create it)."""
    monkeypatch.setenv("GAS_CACHE_DIR", str(tiny["cache"]))
    settings = dataclasses.replace(gas_aws.settings, genome=str(tiny["bundle"]), archive_delay_s=5)
    definition = ASL.read_text().replace("${ArchiveTopicArn}", gas_aws.topics["archive_topic"]) \
        .replace("${DefaultWaitSeconds}", "300")
    sfn = aws.stepfunctions(settings.region)
    arn = sfn.create_state_machine(name=settings.archive_state_machine, definition=definition,
                                   roleArn="arn:aws:iam::123456789012:role/gas-archive")["stateMachineArn"]
    gas_aws.settings = settings
    gas_aws.sfn, gas_aws.sm_arn = sfn, arn
    return gas_aws


def vcf_text(seq: str, bad_line: bool = False) -> str:
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=1>", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for pos in (160, 250, 2000):
        ref = seq[pos - 1]
        lines.append(f"1\t{pos}\t.\t{ref}\t{'G' if ref != 'G' else 'C'}\t50\tPASS\tDP=5")
    if bad_line:
        lines.append("1\tnot-a-position\t.\tA")  # line 7
    return "\n".join(lines) + "\n"


def submit(stack, user_id: str, text: str) -> J.Job:
    """What the UI does: upload, create the PENDING job, publish the request."""
    s = stack.settings
    job_id = J.new_job_id()
    key = f"{user_id}/{job_id}/sample.vcf"
    stack.s3.put_object(Bucket=s.inputs_bucket, Key=key, Body=text.encode())
    job = J.new_job(user_id=user_id, input_file="sample.vcf", input_key=key, input_size=len(text),
                    job_id=job_id)
    assert JobStore(s).create(job)
    req = JobRequest(job_id=job_id, user_id=user_id, input_bucket=s.inputs_bucket, input_key=key,
                     genome="tiny")
    stack.sns.publish(TopicArn=stack.topics["job_requests_topic"], Message=req.to_json())
    return job


def run_once(stack) -> None:
    assert worker.main(["--once", "--worker-id", "w-test"], settings=stack.settings,
                       config=RunConfig(heartbeat_every_s=5)) == 0


def results(stack) -> list[JobResult]:
    return [parse_record(m, JobResult) for m in stack.receive("results_queue")]


def executions(stack) -> list[str]:
    return [e["name"] for e in stack.sfn.list_executions(stateMachineArn=stack.sm_arn)["executions"]]


def test_free_user_job_completes_publishes_and_starts_the_archive_wait(stack, tiny):
    user = UserStore(stack.settings).add("Alice", "alice@example.org", "free")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"]))
    run_once(stack)

    done = JobStore(stack.settings).get(job.job_id)
    assert done.status == Status.COMPLETED and done.variants == 3 and done.progress == 1.0
    assert done.results_state.value == "available"
    listed = stack.s3.list_objects_v2(Bucket=stack.settings.results_bucket,
                                      Prefix=f"{user.user_id}/{job.job_id}/")["Contents"]
    assert sorted(o["Key"] for o in listed) == sorted(done.result_keys)
    assert {k.rsplit("/", 1)[-1] for k in done.result_keys} == {
        "sample.annot.vcf.gz", "sample.parquet", "sample.transcripts.parquet", "sample.summary.json", "sample.log"}
    [res] = results(stack)
    assert (res.job_id, res.status, res.variants) == (job.job_id, "COMPLETED", 3)
    assert executions(stack) == [job.job_id]
    execution = stack.sfn.describe_execution(executionArn=f"{stack.sm_arn.replace(':stateMachine:', ':execution:')}"
                                                          f":{job.job_id}")
    assert json.loads(execution["input"]) == {"job_id": job.job_id, "user_id": user.user_id, "wait_seconds": 5}
    # the message was deleted: nothing visible, nothing in flight
    attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.queues["requests_queue"], AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}

    # a second delivery of the same request is not run again, only announced again (same result)
    req = JobRequest(job_id=job.job_id, user_id=user.user_id, input_bucket=stack.settings.inputs_bucket,
                     input_key=job.input_key, genome="tiny")
    stack.sns.publish(TopicArn=stack.topics["job_requests_topic"], Message=req.to_json())
    run_once(stack)
    again = results(stack)
    assert len(again) == 1 and again[0].status == "COMPLETED" and again[0].variants == 3
    assert JobStore(stack.settings).get(job.job_id).attempts == 1
    assert stack.receive("requests_queue") == []


def test_premium_user_is_not_archived(stack, tiny):
    user = UserStore(stack.settings).add("Bob", "bob@example.org", "premium")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"]))
    run_once(stack)
    assert JobStore(stack.settings).get(job.job_id).status == Status.COMPLETED
    assert [r.status for r in results(stack)] == ["COMPLETED"]
    assert executions(stack) == []


def test_malformed_vcf_fails_with_the_line_number(stack, tiny):
    user = UserStore(stack.settings).add("Carol", "carol@example.org", "free")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"], bad_line=True))
    run_once(stack)
    failed = JobStore(stack.settings).get(job.job_id)
    assert failed.status == Status.FAILED and "line 7" in failed.error
    [res] = results(stack)
    assert res.status == "FAILED" and res.error == failed.error
    stack.s3.head_object(Bucket=stack.settings.inputs_bucket, Key=job.input_key)  # input kept
    assert executions(stack) == []
    assert stack.receive("requests_queue") == []


def test_crashed_worker_job_is_reclaimed_and_completes_once(stack, tiny):
    user = UserStore(stack.settings).add("Dan", "dan@example.org", "premium")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"]))
    # a worker claimed it long ago and died (its heartbeat is stale)
    assert JobStore(stack.settings).claim(job.job_id, "dead", now="2020-01-01T00:00:00.000Z")
    run_once(stack)
    done = JobStore(stack.settings).get(job.job_id)
    assert done.status == Status.COMPLETED and done.worker_id == "w-test" and done.attempts == 2
    assert [r.status for r in results(stack)] == ["COMPLETED"]


def test_poison_message_names_its_job_and_stays_for_the_dlq(stack, tiny):
    user = UserStore(stack.settings).add("Eve", "eve@example.org", "free")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"]))
    stack.receive("requests_queue")  # drop the good request
    stack.sns.publish(TopicArn=stack.topics["job_requests_topic"],
                      Message=json.dumps({"version": 1, "job_id": job.job_id, "user_id": user.user_id}))
    run_once(stack)
    failed = JobStore(stack.settings).get(job.job_id)
    assert failed.status == Status.FAILED and "invalid job request" in failed.error
    attrs = stack.sqs.get_queue_attributes(QueueUrl=stack.queues["requests_queue"], AttributeNames=[
        "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "1"  # not deleted, left invisible


def test_release_is_conditional_on_the_worker(stack, tiny):
    user = UserStore(stack.settings).add("Fay", "fay@example.org", "free")
    job = submit(stack, user.user_id, vcf_text(tiny["seq"]))
    store = JobStore(stack.settings)
    assert store.claim(job.job_id, "w1")
    assert not store.release(job.job_id, "w2")
    assert store.release(job.job_id, "w1")
    released = store.get(job.job_id)
    assert released.status == Status.RUNNING and released.worker_id is None and released.heartbeat_at is None
    assert store.claim(job.job_id, "w2").worker_id == "w2"   # claimable again at once
