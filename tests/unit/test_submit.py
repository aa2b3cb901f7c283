"""gas.submit with fakes: refusals happen before anything is created; effects happen in order."""
from __future__ import annotations

import gzip

import pytest

from gas.jobs import JOB_ID_RE, Status
from gas.submit import (
    NotAVcf,
    Source,
    TooLarge,
    UploadFailed,
    _Multipart,
    check_input,
    genome_label,
    submit,
    upload_limit,
)
from tests.unit.upload_fakes import SETTINGS, VCF, FakeUploadPorts, user


class FakePorts(FakeUploadPorts):
    """The CLI path: the server uploads; the S3 side keeps what was uploaded."""

    def __init__(self, *, lose_upload: bool = False, corrupt: bool = False, create_ok: bool = True) -> None:
        super().__init__()
        self.lose_upload, self.corrupt, self.create_ok = lose_upload, corrupt, create_ok
        self.jobs: list = []

    def upload(self, post, filename, stream, size):
        self.calls.append("upload")
        data = stream.read()
        assert len(data) == size
        if not self.lose_upload:
            self.objects[post["key"]] = b"garbage" if self.corrupt else data

    def create(self, job):
        self.calls.append("create")
        self.jobs.append(job)
        return self.create_ok


def test_happy_path_in_order():
    ports = FakePorts()
    job = submit(Source.from_bytes("../My Sample.vcf", VCF), user(), settings=SETTINGS, ports=ports)
    assert ports.calls == ["presign", "upload", "head", "create", "publish"]
    assert JOB_ID_RE.match(job.job_id) and job.status == Status.PENDING
    assert job.input_key == f"u-1/{job.job_id}/My_Sample.vcf" and job.input_file == "../My Sample.vcf"
    assert job.input_size == len(VCF) and ports.max_bytes == 200
    [req] = ports.published
    assert (req.job_id, req.user_id, req.input_key, req.input_bucket) == (
        job.job_id, "u-1", job.input_key, SETTINGS.inputs_bucket)


def test_gzip_vcf_accepted_and_premium_limit_used():
    data = gzip.compress(VCF * 5)
    ports = FakePorts()
    submit(Source.from_bytes("x.vcf.gz", data), user("premium"), settings=SETTINGS, ports=ports)
    assert ports.max_bytes == 10_000 and ports.calls[-1] == "publish"


@pytest.mark.parametrize("name,data,exc,words", [
    ("notes.txt", b"hello world", NotAVcf, "does not look like a VCF"),
    ("empty.vcf", b"", NotAVcf, "is empty"),
    ("bad.vcf.gz", gzip.compress(b"hello world, no vcf here"), NotAVcf, "does not look like a VCF"),
    ("big.vcf", VCF + b"#" * 300, TooLarge, "the free plan accepts up to 200 bytes; upgrade to premium"),
])
def test_refusals_happen_before_any_effect(name, data, exc, words):
    ports = FakePorts()
    with pytest.raises(exc) as info:
        submit(Source.from_bytes(name, data), user(), settings=SETTINGS, ports=ports)
    assert words in info.value.reason
    assert ports.calls == []


def test_premium_is_not_told_to_upgrade():
    with pytest.raises(TooLarge) as info:
        check_input("x.vcf", 20_000, VCF, "premium", SETTINGS)
    assert "upgrade" not in info.value.reason and upload_limit("premium", SETTINGS) == 10_000


def test_lost_or_corrupted_upload_creates_no_job():
    for ports, exc in ((FakePorts(lose_upload=True), UploadFailed), (FakePorts(corrupt=True), UploadFailed)):
        with pytest.raises(exc):
            submit(Source.from_bytes("a.vcf", VCF), user(), settings=SETTINGS, ports=ports)
        assert ports.calls == ["presign", "upload", "head"]


def test_policy_is_checked_before_upload():
    class Narrow(FakePorts):
        def presigned_post(self, user_id, job_id, filename, max_bytes):
            return super().presigned_post(user_id, job_id, filename, 10)  # a form too small for the file
    ports = Narrow()
    with pytest.raises(UploadFailed, match="EntityTooLarge"):
        submit(Source.from_bytes("a.vcf", VCF), user(), settings=SETTINGS, ports=ports)
    assert ports.calls == ["presign"]


def test_job_id_collision_is_not_published():
    ports = FakePorts(create_ok=False)
    with pytest.raises(UploadFailed):
        submit(Source.from_bytes("a.vcf", VCF), user(), settings=SETTINGS, ports=ports)
    assert ports.calls[-1] == "create" and ports.published == []


def test_source_from_path_reads_only_the_head(tmp_path):
    p = tmp_path / "s.vcf"
    p.write_bytes(VCF + b"x" * 5000)
    src = Source.from_path(p)
    assert src.size == len(VCF) + 5000 and len(src.first_bytes) == 1024 and src.filename == "s.vcf"
    with pytest.raises(FileNotFoundError):
        Source.from_path(tmp_path / "missing.vcf")


def test_multipart_body_streams_with_its_length():
    import io
    body = _Multipart({"key": "u/j/a.vcf", "policy": "p"}, "a.vcf", io.BytesIO(VCF), len(VCF))
    data = b""
    while chunk := body.read(7):
        data += chunk
    assert len(data) == len(body)
    assert data.index(b'name="key"') < data.index(b'name="file"') and VCF in data
    assert data.endswith(f"--{body.boundary}--\r\n".encode())


def test_genome_label():
    assert genome_label("GRCh38") == "GRCh38" and genome_label("/x/cache/tiny") == "tiny"
