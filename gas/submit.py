"""Submitting a job: a user's VCF -> checked -> uploaded -> PENDING job -> JobRequest.

One path for the CLI, the Python client and the UI. In order:

1. **Checks, before anything exists**: the first bytes look like a VCF (plain, or gzip/BGZF whose
   start does: `storage.looks_like_vcf`) and the size is within the user's plan limit
   (`Settings.free_upload_limit_bytes` / `premium_upload_limit_bytes`; the plan comes from the
   caller's fresh read of the users table, never from a token). A refusal raises `SubmitRefused`
   and nothing was created: no id, no object, no job, no message.
2. Mint the job id; get a presigned POST for exactly ``<user>/<job>/<safe name>``, capped at the
   plan limit; evaluate its policy with `storage.check_post_policy` (moto does not enforce it).
3. Upload through that form (streamed multipart, never the whole file in memory).
4. HEAD the object: it must exist, have the size we sent and still look like a VCF.
5. Create the PENDING job (conditional put).
6. Publish the `JobRequest` to the job-requests topic (name or ARN, via `aws.resolve_arn`).

If the process dies between 3 and 5 an orphan input is left (no job refers to it); between 5 and
6 a PENDING job without a request is left. Neither is visible as a running job.

The AWS side sits behind `SubmitPorts` so unit tests drive the order of effects with fakes.
"""
from __future__ import annotations

import io
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from gas import aws, storage
from gas.jobs import Job, new_job, new_job_id
from gas.messages import JobRequest
from gas.settings import Settings
from gas.users import Plan, User

CHUNK = 1024 * 1024
MAX_INPUT_NAME = 255


class SubmitRefused(ValueError):
    """The submission cannot go ahead; `reason` is one line for the user."""

    code = "refused"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotAVcf(SubmitRefused):
    code = "not_vcf"


class TooLarge(SubmitRefused):
    code = "too_large"


class UploadFailed(SubmitRefused):
    code = "upload_failed"


def upload_limit(plan: Plan | str, settings: Settings) -> int:
    """Largest input (bytes) the plan allows."""
    return settings.premium_upload_limit_bytes if Plan(plan) == Plan.PREMIUM else settings.free_upload_limit_bytes


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def check_input(filename: str, size: int, first_bytes: bytes, plan: Plan | str, settings: Settings) -> int:
    """Refuse what the service will not take; returns the plan's limit. Touches nothing."""
    if size <= 0:
        raise NotAVcf(f"{filename} is empty")
    if not storage.looks_like_vcf(first_bytes):
        raise NotAVcf(f"{filename} does not look like a VCF (expected '##fileformat=VCF', plain or gzip)")
    limit = upload_limit(plan, settings)
    if size > limit:
        raise TooLarge(f"{filename} is {human_bytes(size)}; the {Plan(plan).value} plan accepts up to "
                       f"{human_bytes(limit)}" + ("; upgrade to premium for larger files"
                                                   if Plan(plan) == Plan.FREE else ""))
    return limit


def genome_label(genome: str) -> str:
    """The genome as a request may name it (`JobRequest.genome`: [A-Za-z0-9._-]{1,32}); a bundle
    path (GAS_GENOME may be one locally) is reduced to its folder name. Recorded, not obeyed."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", re.split(r"[\\/]", genome.rstrip("/\\"))[-1])[:32]
    return name or "GRCh38"


# ----------------------------------------------------------------------------- ports

class SubmitPorts(Protocol):
    def presigned_post(self, user_id: str, job_id: str, filename: str, max_bytes: int) -> dict[str, Any]: ...
    def upload(self, post: dict[str, Any], filename: str, stream: IO[bytes], size: int) -> None: ...
    def head(self, key: str) -> storage.InputHead | None: ...
    def create(self, job: Job) -> bool: ...
    def publish(self, request: JobRequest) -> None: ...


class _Multipart(io.RawIOBase):
    """multipart/form-data body streamed from a file: fields, then the file part last (S3 ignores
    anything after the file field), with a known length so it is not sent chunked."""

    def __init__(self, fields: dict[str, str], filename: str, stream: IO[bytes], size: int) -> None:
        super().__init__()
        self.boundary = "gas" + secrets.token_hex(16)
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items())
        safe = storage.safe_filename(filename)
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n").encode()
        self._parts: list[IO[bytes]] = [io.BytesIO(head), stream, io.BytesIO(f"\r\n--{self.boundary}--\r\n".encode())]
        self.length = len(head) + size + len(self._parts[2].getvalue())  # type: ignore[attr-defined]

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        n = CHUNK if n is None or n < 0 else n
        while self._parts:
            data = self._parts[0].read(n)
            if data:
                return data
            self._parts.pop(0)
        return b""

    def __len__(self) -> int:
        return self.length


class AwsSubmitPorts:
    """The real side: S3 presigned POST over HTTP, DynamoDB through JobStore, SNS publish."""

    def __init__(self, settings: Settings, *, store: Any = None, s3: Any = None, sns: Any = None) -> None:
        from gas.store import JobStore
        self.settings = settings
        self.store = store or JobStore(settings)
        self._s3, self._sns = s3, sns

    @property
    def s3(self) -> Any:
        return self._s3 or aws.s3(self.settings.region)

    def presigned_post(self, user_id: str, job_id: str, filename: str, max_bytes: int) -> dict[str, Any]:
        return storage.presigned_post(user_id, job_id, filename, max_bytes, settings=self.settings, s3=self.s3)

    def upload(self, post: dict[str, Any], filename: str, stream: IO[bytes], size: int) -> None:
        body = _Multipart(post["fields"], filename, stream, size)
        req = urllib.request.Request(post["url"], data=body, method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={body.boundary}", "Content-Length": str(len(body))})
        try:
            with urllib.request.urlopen(req, timeout=max(60, size // (1024 * 1024))) as resp:
                resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise UploadFailed(f"upload refused by S3 (HTTP {exc.code}): {detail}") from exc
        except OSError as exc:
            raise UploadFailed(f"upload failed: {exc}") from exc

    def head(self, key: str) -> storage.InputHead | None:
        return storage.head_input(key, settings=self.settings, s3=self.s3)

    def create(self, job: Job) -> bool:
        return self.store.create(job)

    def publish(self, request: JobRequest) -> None:
        sns = self._sns or aws.sns(self.settings.region)
        sns.publish(TopicArn=aws.resolve_arn("sns", self.settings.job_requests_topic, self.settings),
                    Message=request.to_json())


# ----------------------------------------------------------------------------- the flow

@dataclass(frozen=True)
class Source:
    """What is being submitted: a name, a size, its first bytes and a way to read it all."""

    filename: str
    size: int
    first_bytes: bytes
    open: Callable[[], IO[bytes]]

    @classmethod
    def from_path(cls, path: str | Path) -> Source:
        p = Path(path)
        size = p.stat().st_size  # FileNotFoundError for a missing file
        with p.open("rb") as f:
            first = f.read(storage.HEAD_BYTES)
        return cls(filename=p.name, size=size, first_bytes=first, open=lambda: p.open("rb"))

    @classmethod
    def from_bytes(cls, filename: str, data: bytes) -> Source:
        return cls(filename=filename, size=len(data), first_bytes=data[:storage.HEAD_BYTES],
                   open=lambda: io.BytesIO(data))


def submit(source: Source, user: User, *, settings: Settings | None = None,
           ports: SubmitPorts | None = None, job_id: str | None = None) -> Job:
    """Check, upload, create the PENDING job and request its annotation; returns the job.

    `user` must be a fresh read of the users table (its plan decides the size limit).
    Raises `SubmitRefused` (NotAVcf, TooLarge, UploadFailed) with a one-line reason.
    """
    settings = settings or Settings.from_env()
    limit = check_input(source.filename, source.size, source.first_bytes, user.plan, settings)
    ports = ports or AwsSubmitPorts(settings)

    job_id = job_id or new_job_id()
    post = ports.presigned_post(user.user_id, job_id, source.filename, limit)
    refused = storage.check_post_policy(post["fields"], settings.inputs_bucket, source.size)
    if refused:
        raise UploadFailed(f"upload refused by the form's policy: {refused}")
    with source.open() as stream:
        ports.upload(post, source.filename, stream, source.size)

    head = ports.head(post["key"])
    if head is None:
        raise UploadFailed(f"the upload of {source.filename} did not arrive")
    if head.size != source.size:
        raise UploadFailed(f"the upload of {source.filename} arrived with {head.size} of {source.size} bytes")
    if not head.looks_like_vcf:
        raise NotAVcf(f"the uploaded {source.filename} does not look like a VCF")

    genome = genome_label(settings.genome)
    job = new_job(user_id=user.user_id, input_file=source.filename[:MAX_INPUT_NAME] or "input.vcf",
                  input_key=post["key"], input_size=head.size, genome=genome, job_id=job_id)
    if not ports.create(job):
        raise UploadFailed(f"job {job_id} already exists")  # 80 random bits: effectively never
    ports.publish(JobRequest(job_id=job.job_id, user_id=user.user_id, input_bucket=settings.inputs_bucket,
                             input_key=post["key"], genome=genome))
    return job


def submit_file(path: str | Path, user: User, **kwargs: Any) -> Job:
    """`submit` for a local file."""
    return submit(Source.from_path(path), user, **kwargs)
