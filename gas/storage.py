"""S3: the per-user key layout, presigned URLs, input checks and storage-class moves.

Key layout (both buckets): ``<user_id>/<job_id>/<file name>``. Every read or write on behalf of
a user first passes `key_belongs_to`, so a key from a message, a form or a URL cannot reach
another user's prefix. Uploads go browser -> S3 through a presigned POST whose policy pins the
exact key and caps the size (`content-length-range`); a presigned PUT cannot cap the size.
"""
from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from gas import aws
from gas.jobs import JOB_ID_RE, USER_ID_RE
from gas.settings import Settings

MAX_FILENAME = 128
MAX_PRESIGN_TTL_S = 3600
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
VCF_MAGIC = b"##fileformat=VCF"
GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 1024


class InvalidKey(ValueError):
    """A key or file name that does not fit the layout (traversal, other prefix, bad id)."""


# ----------------------------------------------------------------------------- key layout

def safe_filename(name: str) -> str:
    """The last path component of `name`, reduced to [A-Za-z0-9._-], never hidden or empty."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")
    if len(cleaned) > MAX_FILENAME:  # keep the extension, it tells the reader how to open it
        stem, dot, ext = cleaned.rpartition(".")
        ext = ext[:16] if dot else ""
        cleaned = (stem if dot else cleaned)[: MAX_FILENAME - len(ext) - 1] + ("." + ext if ext else "")
    return cleaned or "input.vcf"


def _check_ids(user_id: str, job_id: str) -> None:
    if not USER_ID_RE.match(user_id or ""):
        raise InvalidKey(f"invalid user id {user_id!r}")
    if not JOB_ID_RE.match(job_id or ""):
        raise InvalidKey(f"invalid job id {job_id!r}")


def input_key(user_id: str, job_id: str, filename: str) -> str:
    """Where the user's upload for `job_id` lives in the inputs bucket."""
    _check_ids(user_id, job_id)
    return f"{user_id}/{job_id}/{safe_filename(filename)}"


def result_key(user_id: str, job_id: str, output_name: str) -> str:
    """Where one output file of `job_id` lives in the results bucket."""
    _check_ids(user_id, job_id)
    name = safe_filename(output_name)
    if name != output_name:
        raise InvalidKey(f"output name {output_name!r} is not a plain file name")
    return f"{user_id}/{job_id}/{name}"


def job_prefix(user_id: str, job_id: str) -> str:
    """The prefix holding every object of one job (for listing its results)."""
    _check_ids(user_id, job_id)
    return f"{user_id}/{job_id}/"


def parse_key(key: str) -> tuple[str, str, str]:
    """Split a key into (user_id, job_id, file name); raise InvalidKey when it breaks the layout."""
    parts = (key or "").split("/")
    if len(parts) != 3:
        raise InvalidKey(f"key {key!r} is not <user>/<job>/<file>")
    user_id, job_id, name = parts
    _check_ids(user_id, job_id)
    if name in ("", ".", "..") or safe_filename(name) != name:
        raise InvalidKey(f"key {key!r} has an unsafe file name")
    return user_id, job_id, name


def key_belongs_to(key: str, user_id: str, job_id: str | None = None) -> bool:
    """True only for a well-formed key under `user_id/` (and `job_id/` when given)."""
    try:
        owner, job, _ = parse_key(key)
    except InvalidKey:
        return False
    return owner == user_id and (job_id is None or job == job_id)


# ----------------------------------------------------------------------------- presigned URLs

def presigned_post(user_id: str, job_id: str, filename: str, max_bytes: int,
                   ttl: int | None = None, *, settings: Settings | None = None,
                   s3: Any = None) -> dict[str, Any]:
    """A browser upload form for exactly one key, 1..max_bytes long.

    Returns {"url", "fields", "key"}. The policy's conditions are the bucket, the exact key (not
    a starts-with) and `content-length-range`; no secret is in the fields beyond the signature.
    """
    settings = settings or Settings.from_env()
    if max_bytes < 1:
        raise ValueError("max_bytes must be >= 1")
    ttl = _ttl(ttl, settings)
    key = input_key(user_id, job_id, filename)
    s3 = s3 or aws.s3(settings.region)
    post = s3.generate_presigned_post(
        Bucket=settings.inputs_bucket, Key=key, Fields={},
        Conditions=[{"bucket": settings.inputs_bucket}, ["content-length-range", 1, int(max_bytes)]],
        ExpiresIn=ttl)
    return {"url": post["url"], "fields": post["fields"], "key": key}


def post_policy(fields: dict[str, str]) -> dict[str, Any]:
    """The decoded policy document of a presigned POST (for tests and the local stack)."""
    return json.loads(base64.b64decode(fields["policy"]))


def check_post_policy(fields: dict[str, str], bucket: str, size: int, *,
                      now: datetime | None = None) -> str | None:
    """Evaluate our POST policy's expiration and conditions the way S3 does; the reason it
    refuses, or None. (The signature over the policy is S3's to check: it needs the secret key.)

    moto 5.2 stores whatever a POST sends (it checks neither the expiration, nor the key, nor
    content-length-range), so the embedded stack calls this before forwarding an upload, and
    tests use it as the oracle.
    """
    policy = post_policy(fields)
    expiration = policy.get("expiration")
    if expiration:
        try:
            expires = datetime.fromisoformat(str(expiration))
        except ValueError:
            return "Invalid Policy: expiration is not a date"
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        if (now or datetime.now(UTC)) > expires:
            return "Policy expired"
    for cond in policy.get("conditions", []):
        if isinstance(cond, dict):
            for name, value in cond.items():
                actual = bucket if name == "bucket" else fields.get(name)
                if actual != value:
                    return f"{name} must equal {value!r}"
        elif isinstance(cond, list) and cond and cond[0] == "content-length-range":
            low, high = int(cond[1]), int(cond[2])
            if size < low:
                return "EntityTooSmall"
            if size > high:
                return "EntityTooLarge"
        elif isinstance(cond, list) and cond and cond[0] == "starts-with":
            name = cond[1].lstrip("$")
            if not str(fields.get(name, "")).startswith(cond[2]):
                return f"{name} must start with {cond[2]!r}"
    return None


def presigned_get(key: str, ttl: int | None = None, *, bucket: str | None = None,
                  download_name: str | None = None, settings: Settings | None = None,
                  s3: Any = None) -> str:
    """A short-lived download link. Call it only after `JobStore.get_for_user` said the job is theirs."""
    settings = settings or Settings.from_env()
    parse_key(key)  # refuses anything outside the layout
    params: dict[str, Any] = {"Bucket": bucket or settings.results_bucket, "Key": key}
    if download_name:
        params["ResponseContentDisposition"] = f'attachment; filename="{safe_filename(download_name)}"'
    s3 = s3 or aws.s3(settings.region)
    return s3.generate_presigned_url("get_object", Params=params, ExpiresIn=_ttl(ttl, settings))


def _ttl(ttl: int | None, settings: Settings) -> int:
    ttl = settings.presigned_ttl_s if ttl is None else int(ttl)
    if not 1 <= ttl <= MAX_PRESIGN_TTL_S:
        raise ValueError(f"presigned ttl must be 1..{MAX_PRESIGN_TTL_S} s, got {ttl}")
    return ttl


# ----------------------------------------------------------------------------- inputs

@dataclass(frozen=True)
class InputHead:
    key: str
    size: int
    first_bytes: bytes

    @property
    def looks_like_vcf(self) -> bool:
        return looks_like_vcf(self.first_bytes)


def head_input(key: str, *, settings: Settings | None = None, s3: Any = None,
               n: int = HEAD_BYTES) -> InputHead | None:
    """Size and first bytes of an uploaded input, or None when it does not exist (yet).

    A job is created only once this returns an object whose first bytes look like a VCF.
    """
    settings = settings or Settings.from_env()
    s3 = s3 or aws.s3(settings.region)
    try:
        head = s3.head_object(Bucket=settings.inputs_bucket, Key=key)
        size = int(head["ContentLength"])
        first = b""
        if size:
            body = s3.get_object(Bucket=settings.inputs_bucket, Key=key, Range=f"bytes=0-{n - 1}")["Body"]
            first = body.read(n)
    except ClientError as exc:
        if aws.error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return InputHead(key=key, size=size, first_bytes=first)


def looks_like_vcf(first_bytes: bytes) -> bool:
    """Plain text starting '##fileformat=VCF', or gzip/BGZF whose decompressed start does.

    Only a prefix is available, so a gzip stream is decompressed as far as it goes; if that
    yields too little text to judge, the gzip magic alone is accepted (the worker validates fully).
    """
    if first_bytes.startswith(VCF_MAGIC):
        return True
    if not first_bytes.startswith(GZIP_MAGIC):
        return False
    try:
        text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(first_bytes, len(VCF_MAGIC))
    except zlib.error:
        return False
    return text.startswith(VCF_MAGIC) if len(text) >= len(VCF_MAGIC) else True


# ----------------------------------------------------------------------------- storage classes

class RestoreOutcome:
    STARTED = "started"                # 202: a retrieval job was accepted
    ALREADY_RESTORED = "restored"      # 200: a restored copy is already available
    IN_PROGRESS = "in_progress"        # 409 RestoreAlreadyInProgress: an earlier request runs
    UNAVAILABLE = "unavailable"        # 503 GlacierExpeditedRetrievalNotAvailable
    NOT_ARCHIVED = "not_archived"      # InvalidObjectState: the object is not in a Glacier class


def storage_class(bucket: str, key: str, *, s3: Any = None) -> str:
    """The object's storage class (S3 omits the header for STANDARD)."""
    s3 = s3 or aws.s3()
    return s3.head_object(Bucket=bucket, Key=key).get("StorageClass") or "STANDARD"


def restore_status(bucket: str, key: str, *, s3: Any = None) -> str | None:
    """The raw `Restore` header ('ongoing-request="true"' while running), None if never asked."""
    s3 = s3 or aws.s3()
    return s3.head_object(Bucket=bucket, Key=key).get("Restore")


def _set_storage_class(bucket: str, key: str, target: str, s3: Any) -> bool:
    """Copy the object onto itself in `target` class (metadata kept); False if it already was."""
    s3 = s3 or aws.s3()
    if storage_class(bucket, key, s3=s3) == target:
        return False
    s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                   StorageClass=target, MetadataDirective="COPY")
    return True


def move_to_glacier(bucket: str, key: str, *, s3: Any = None) -> bool:
    """Archive the object in place; False if it already was GLACIER (idempotent)."""
    return _set_storage_class(bucket, key, "GLACIER", s3)


def restore(bucket: str, key: str, tier: str, *, days: int = 1, s3: Any = None) -> str:
    """Ask S3 to restore an archived object; a RestoreOutcome value, never a botocore error for
    the expected answers (in progress, expedited capacity short, not archived)."""
    s3 = s3 or aws.s3()
    try:
        response = s3.restore_object(Bucket=bucket, Key=key, RestoreRequest={
            "Days": days, "GlacierJobParameters": {"Tier": tier}})
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "RestoreAlreadyInProgress":
            return RestoreOutcome.IN_PROGRESS
        if code == "GlacierExpeditedRetrievalNotAvailable":
            return RestoreOutcome.UNAVAILABLE
        if code == "InvalidObjectState":
            return RestoreOutcome.NOT_ARCHIVED
        raise
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return RestoreOutcome.ALREADY_RESTORED if status == 200 else RestoreOutcome.STARTED


def restore_with_fallback(bucket: str, key: str, tiers: tuple[str, ...] = ("Expedited", "Standard"),
                          *, days: int = 1, s3: Any = None) -> tuple[str, str]:
    """Try each tier in turn while S3 answers 'capacity unavailable'; (tier used, outcome)."""
    outcome = RestoreOutcome.UNAVAILABLE
    for tier in tiers:
        outcome = restore(bucket, key, tier, days=days, s3=s3)
        if outcome != RestoreOutcome.UNAVAILABLE:
            return tier, outcome
    return tiers[-1], outcome


def copy_back_to_standard(bucket: str, key: str, *, s3: Any = None) -> bool:
    """Make a restored object permanent again in STANDARD; False if it already was."""
    return _set_storage_class(bucket, key, "STANDARD", s3)
