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

The browser path (the UI's Submit page, docs/upload.md) splits the same steps in two, because the
bytes go from the browser straight to S3 and never through this process:

- `start_upload(user, filename, declared_size, first_bytes)` = step 1 on what the browser declares
  (its size and the first 64 KiB it read with ``File.slice``) + step 2; returns an `UploadTicket`
  the caller keeps server-side (the browser gets only the form's url and fields).
- the browser POSTs the form to S3 (step 3); S3 enforces the policy (moto does not).
- `finish_upload(user, ticket)` = step 4 on the object as S3 holds it (HEAD + ranged GET: exists,
  within the plan limit, looks like a VCF) + steps 5 and 6. A refused object is deleted (no job
  refers to it). Finishing a ticket twice returns the same job and publishes once.

Both paths share `check_input` (the refusals), `_check_object` (step 4) and `_create_and_publish`
(steps 5 and 6). The AWS side sits behind `SubmitPorts` so unit tests drive the order of effects
with fakes.
"""
from __future__ import annotations

import io
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Protocol

from gas import aws, storage
from gas.jobs import Job, new_job, new_job_id, to_iso
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


class NotYours(SubmitRefused):
    """A ticket whose user or key is not the caller's (a stale session, a forged ticket)."""

    code = "not_yours"


def upload_limit(plan: Plan | str, settings: Settings) -> int:
    """Largest input (bytes) the plan allows."""
    return settings.premium_upload_limit_bytes if Plan(plan) == Plan.PREMIUM else settings.free_upload_limit_bytes


def human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def check_input(filename: str, size: int, first_bytes: bytes | None, plan: Plan | str,
                settings: Settings) -> int:
    """Refuse what the service will not take; returns the plan's limit. Touches nothing.

    `first_bytes` None skips the content check (a browser that could not read the file's start:
    the object is checked after the upload anyway)."""
    if size <= 0:
        raise NotAVcf(f"{filename} is empty")
    if first_bytes is not None and not storage.looks_like_vcf(first_bytes):
        raise NotAVcf(f"{filename} does not look like a VCF (expected '##fileformat=VCF', plain or gzip)")
    limit = upload_limit(plan, settings)
    if size > limit:
        raise _too_large(filename, size, plan, limit)
    return limit


def _too_large(filename: str, size: int, plan: Plan | str, limit: int) -> TooLarge:
    return TooLarge(f"{filename} is {human_bytes(size)}; the {Plan(plan).value} plan accepts up to "
                    f"{human_bytes(limit)}" + ("; upgrade to premium for larger files"
                                               if Plan(plan) == Plan.FREE else ""))


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


class UploadPorts(SubmitPorts, Protocol):
    """What the browser path needs on top: find a job by id, delete a refused object."""

    def get_job(self, job_id: str) -> Job | None: ...
    def delete(self, key: str) -> None: ...


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

    def get_job(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def delete(self, key: str) -> None:
        storage.parse_key(key)  # only ever a key of our layout
        self.s3.delete_object(Bucket=self.settings.inputs_bucket, Key=key)


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
    _check_object(head, source.filename, limit, user.plan, expected_size=source.size)
    assert head is not None
    job = _create_and_publish(user, job_id, post["key"], source.filename, head.size, settings, ports)
    if job is None:
        raise UploadFailed(f"job {job_id} already exists")  # 80 random bits: effectively never
    return job


def _input_name(filename: str) -> str:
    """The name recorded on the job (`Job.input_file`: 1..255 characters)."""
    return filename[:MAX_INPUT_NAME] or "input.vcf"


def _check_object(head: storage.InputHead | None, filename: str, limit: int, plan: Plan | str,
                  *, expected_size: int | None = None) -> None:
    """Step 4: the uploaded object exists, is 1..limit bytes (and `expected_size` when known) and
    its first bytes look like a VCF; raises the refusal otherwise."""
    if head is None:
        raise UploadFailed(f"the upload of {filename} did not arrive")
    if expected_size is not None and head.size != expected_size:
        raise UploadFailed(f"the upload of {filename} arrived with {head.size} of {expected_size} bytes")
    if head.size <= 0:
        raise NotAVcf(f"the uploaded {filename} is empty")
    if head.size > limit:
        raise _too_large(filename, head.size, plan, limit)
    if not head.looks_like_vcf:
        raise NotAVcf(f"the uploaded {filename} does not look like a VCF")


def _create_and_publish(user: User, job_id: str, key: str, filename: str, size: int,
                        settings: Settings, ports: SubmitPorts) -> Job | None:
    """Steps 5 and 6: the PENDING job, then its JobRequest. None (and nothing published) when a
    job with this id already exists."""
    genome = genome_label(settings.genome)
    job = new_job(user_id=user.user_id, input_file=_input_name(filename), input_key=key,
                  input_size=size, genome=genome, job_id=job_id)
    if not ports.create(job):
        return None
    ports.publish(JobRequest(job_id=job.job_id, user_id=user.user_id, input_bucket=settings.inputs_bucket,
                             input_key=key, genome=genome))
    return job


def submit_file(path: str | Path, user: User, **kwargs: Any) -> Job:
    """`submit` for a local file."""
    return submit(Source.from_path(path), user, **kwargs)


# ----------------------------------------------------------------------------- the browser path

@dataclass(frozen=True)
class UploadTicket:
    """One pending browser upload. Kept server-side (the UI's session state): the browser only
    gets `form()` and reports back "uploaded"; its word is never trusted for a key or a size."""

    job_id: str
    user_id: str
    key: str
    filename: str            # as the user named it (recorded as `Job.input_file`)
    declared_size: int       # what the browser said; the object's real size is checked at finish
    limit: int               # the plan's cap, also the form's content-length-range
    url: str
    fields: dict[str, str] = field(default_factory=dict)
    expires_at: str = ""     # after this S3 refuses the form

    def form(self) -> dict[str, Any]:
        """What the browser needs to POST: the url and the fields (file goes last)."""
        return {"url": self.url, "fields": dict(self.fields)}


def start_upload(user: User, filename: str, declared_size: int, first_bytes: bytes | None = None, *,
                 settings: Settings | None = None, ports: SubmitPorts | None = None,
                 job_id: str | None = None) -> UploadTicket:
    """Refuse early, then mint the job id and the presigned POST; nothing is created in AWS.

    `user` must be a fresh read of the users table. Refuses (`SubmitRefused`: NotAVcf, TooLarge)
    an empty file, a declared size over the plan's limit and `first_bytes` (the start of the file,
    up to 64 KiB, as the browser read it) that do not look like a VCF.
    """
    settings = settings or Settings.from_env()
    filename = str(filename or "")[:1024]
    limit = check_input(filename or "the file", int(declared_size), first_bytes, user.plan, settings)
    ports = ports or AwsSubmitPorts(settings)
    job_id = job_id or new_job_id()
    post = ports.presigned_post(user.user_id, job_id, filename, limit)  # valid presigned_ttl_s seconds
    expires = to_iso(datetime.now(UTC) + timedelta(seconds=settings.presigned_ttl_s))
    return UploadTicket(job_id=job_id, user_id=user.user_id, key=post["key"], filename=filename,
                        declared_size=int(declared_size), limit=limit, url=post["url"],
                        fields=dict(post["fields"]), expires_at=expires)


def _owned(user: User, ticket: UploadTicket) -> None:
    if ticket.user_id != user.user_id or not storage.key_belongs_to(ticket.key, user.user_id, ticket.job_id):
        raise NotYours("this upload does not belong to the signed-in user")
    if ticket.key != storage.input_key(user.user_id, ticket.job_id, ticket.filename):
        raise NotYours("this upload's key does not match its ticket")


def _same_job(job: Job | None, user: User, ticket: UploadTicket) -> Job | None:
    """The job this ticket already produced, if any; another owner or key is a refusal."""
    if job is None:
        return None
    if job.user_id != user.user_id or job.input_key != ticket.key:
        raise NotYours(f"job {ticket.job_id} belongs to another upload")
    return job


def finish_upload(user: User, ticket: UploadTicket, *, settings: Settings | None = None,
                  ports: UploadPorts | None = None) -> Job:
    """After the browser said "uploaded": check the object as S3 holds it, then create the
    PENDING job and publish its JobRequest (exactly as `submit`).

    `user` must be a fresh read (the limit is the plan's *now*). The ticket must be the user's
    (`NotYours`). The object must exist (`UploadFailed`), be 1..limit bytes (`TooLarge`: moto does
    not enforce the POST policy, and we check again anyway) and look like a VCF (`NotAVcf`); a
    refused object is deleted first, so no object outlives a refusal. Idempotent: a ticket that
    already produced a job returns that job and publishes nothing.
    """
    settings = settings or Settings.from_env()
    _owned(user, ticket)
    ports = ports or AwsSubmitPorts(settings)
    existing = _same_job(ports.get_job(ticket.job_id), user, ticket)
    if existing is not None:
        return existing
    head = ports.head(ticket.key)
    try:
        _check_object(head, ticket.filename or "the file", upload_limit(user.plan, settings), user.plan)
    except SubmitRefused:
        if head is not None:
            ports.delete(ticket.key)
        raise
    assert head is not None
    job = _create_and_publish(user, ticket.job_id, ticket.key, ticket.filename, head.size, settings, ports)
    if job is None:  # a concurrent finish of the same ticket won the conditional create
        job = _same_job(ports.get_job(ticket.job_id), user, ticket)
        if job is None:
            raise UploadFailed(f"job {ticket.job_id} could not be created")
    return job


def abandon_upload(user: User, ticket: UploadTicket, *, settings: Settings | None = None,
                   ports: UploadPorts | None = None) -> bool:
    """The browser reported a failed or cancelled upload: delete whatever part of it S3 may hold,
    unless the ticket already produced a job. True if something was deleted. Best effort."""
    settings = settings or Settings.from_env()
    _owned(user, ticket)
    ports = ports or AwsSubmitPorts(settings)
    if _same_job(ports.get_job(ticket.job_id), user, ticket) is not None:
        return False
    if ports.head(ticket.key) is None:
        return False
    ports.delete(ticket.key)
    return True
