"""gas.downloads: ownership first, presigned links only for available results, the run log's end."""
from __future__ import annotations

import io
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
from botocore.exceptions import ClientError
from job_factory import OUTPUTS, FakeJobStore, make_job

from gas import downloads as D
from gas.jobs import Job
from gas.settings import Settings

ST = Settings(presigned_ttl_s=120)


class FakeS3:
    """ListObjectsV2 and ranged GetObject over a dict; real SigV4 presigning (offline)."""

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.calls: list[tuple[str, dict]] = []
        self._signer = boto3.client("s3", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                                    aws_secret_access_key="secret", config=boto3.session.Config(signature_version="s3v4"))

    def list_objects_v2(self, **kw):
        self.calls.append(("list", kw))
        found = [{"Key": k, "Size": len(v)} for k, v in sorted(self.objects.items()) if k.startswith(kw["Prefix"])]
        return {"Contents": found, "IsTruncated": False}

    def get_object(self, **kw):
        self.calls.append(("get", kw))
        if kw["Key"] not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")
        data = self.objects[kw["Key"]]
        n = int(kw["Range"].removeprefix("bytes=-"))
        part = data[-n:] if n < len(data) else data
        return {"Body": io.BytesIO(part), "ContentRange": f"bytes {len(data) - len(part)}-{len(data) - 1}/{len(data)}"}

    def generate_presigned_url(self, *args, **kwargs):
        self.calls.append(("sign", kwargs))
        return self._signer.generate_presigned_url(*args, **kwargs)


def s3_for(job: Job, log: bytes = b"line 1\nline 2\n") -> FakeS3:
    return FakeS3({k: (log if k.endswith(".log") else b"x" * 10) for k in job.result_keys})


def test_owned_job_hides_other_users_and_missing_jobs_alike() -> None:
    alices, bobs = make_job("COMPLETED"), make_job("COMPLETED", user="bob")
    store = FakeJobStore([alices, bobs])
    assert D.owned_job(store, alices.job_id, "alice") == alices
    refusals = []
    for job_id in (bobs.job_id, "0" * 32, "", None, "../x"):
        with pytest.raises(D.NoSuchJob) as exc:
            D.owned_job(store, job_id, "alice")
        refusals.append(str(exc.value))
    assert set(refusals) == {D.NO_SUCH_JOB}


def test_available_results_get_named_sized_short_lived_links() -> None:
    job = make_job("COMPLETED")
    s3 = s3_for(job)
    found = D.downloads(job, "alice", ST, s3=s3)
    assert found.unavailable is None and found.ttl_s == 120
    assert [o.name for o in found.outputs] == [f"a{s}" for s in OUTPUTS]
    assert [o.kind for o in found.outputs] == ["Annotated VCF (bgzip)", "Annotated variants (Parquet)",
                                              "Per-transcript consequences (Parquet)", "Run summary (JSON)",
                                              "Run log (text)"]
    assert [o.size for o in found.outputs] == [10, 10, 10, 10, 14]
    for out in found.outputs:
        url = urlparse(out.url)
        query = parse_qs(url.query)
        assert url.path == f"/{out.key}" or url.path.endswith(f"/{out.key}")
        assert query["X-Amz-Expires"] == ["120"]
        assert query["response-content-disposition"] == [f'attachment; filename="{out.name}"']
    assert [c for c, _ in s3.calls].count("list") == 1  # one listing for the sizes, not a HEAD per file


@pytest.mark.parametrize(("results", "message"), [("archived", D.ARCHIVED_MESSAGE),
                                                   ("restoring", D.RESTORING_MESSAGE)])
def test_archived_or_restoring_results_are_listed_but_never_signed(results: str, message: str) -> None:
    job = make_job("COMPLETED", results=results)
    s3 = s3_for(job)
    found = D.downloads(job, "alice", ST, s3=s3)
    assert found.unavailable == message
    assert len(found.outputs) == 5 and all(o.url is None for o in found.outputs)
    assert "sign" not in [c for c, _ in s3.calls]
    assert D.run_log(job, "alice", ST, s3=s3) is None
    assert "get" not in [c for c, _ in s3.calls]


@pytest.mark.parametrize("status", ["PENDING", "RUNNING", "FAILED"])
def test_unfinished_or_failed_jobs_have_nothing_to_download(status: str) -> None:
    job = make_job(status)
    found = D.downloads(job, "alice", ST, s3=FakeS3({}))
    expected = (f"job {job.job_id} FAILED: {job.error or 'no reason recorded'}; it has no results"
                if status == "FAILED" else f"job {job.job_id} is {status}: it has no results")
    assert found.outputs == [] and found.unavailable == expected
    assert D.run_log(job, "alice", ST, s3=FakeS3({})) is None


def test_someone_elses_job_is_refused_even_if_handed_over() -> None:
    bobs = make_job("COMPLETED", user="bob")
    s3 = s3_for(bobs)
    with pytest.raises(D.NoSuchJob):
        D.downloads(bobs, "alice", ST, s3=s3)
    with pytest.raises(D.NoSuchJob):
        D.run_log(bobs, "alice", ST, s3=s3)
    assert s3.calls == []


def test_keys_outside_the_jobs_prefix_are_never_touched() -> None:
    job = make_job("COMPLETED")
    job = job.model_copy(update={"result_keys": [*job.result_keys, "bob/" + job.job_id + "/a.log",
                                                 f"alice/{'0' * 32}/other.parquet"]})
    found = D.downloads(job, "alice", ST, s3=s3_for(job))
    assert len(found.outputs) == 5 and all(o.key.startswith(f"alice/{job.job_id}/") for o in found.outputs)


def test_run_log_is_read_whole_when_small() -> None:
    job = make_job("COMPLETED")
    log = D.run_log(job, "alice", ST, s3=s3_for(job, b"start\nend\n"))
    assert log == D.RunLog(text="start\nend\n", size=10, truncated=False)


def test_run_log_keeps_only_whole_lines_of_its_end_when_large() -> None:
    job = make_job("COMPLETED")
    text = b"".join(f"line {i:04d}\n".encode() for i in range(1000))  # 10,000 bytes
    s3 = s3_for(job, text)
    log = D.run_log(job, "alice", ST, s3=s3, cap=100)
    assert log is not None and log.truncated and log.size == 10_000
    assert log.text.startswith("line ") and log.text.endswith("line 0999\n")
    assert len(log.text) < 100
    assert s3.calls[-1][1]["Range"] == "bytes=-100"


def test_missing_log_object_reads_as_no_log() -> None:
    job = make_job("COMPLETED")
    s3 = s3_for(job)
    del s3.objects[D.log_key(job)]
    assert D.run_log(job, "alice", ST, s3=s3) is None
    sizes = {o.name: o.size for o in D.downloads(job, "alice", ST, s3=s3).outputs}
    assert sizes["a.log"] is None
