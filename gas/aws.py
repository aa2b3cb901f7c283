"""boto3 clients for every runtime, cached and configured once.

Why a module of its own: clients are expensive to build (~50 ms each) and thread-safe once
built, so the worker, the Lambda functions and the UI share one per (service, endpoint, region).
The embedded stack points everything at moto by setting ``AWS_ENDPOINT_URL`` (or
``AWS_ENDPOINT_URL_<SERVICE>``); boto3 >= 1.28 resolves those itself (verified with 1.44), and
the cache key includes them so a changed endpoint yields a fresh client.

Only low-level clients are exposed: boto3 *resources* are not thread-safe.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import boto3
from botocore.config import Config

from gas.settings import Settings

CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
# SQS long polls for up to 20 s: the read timeout must outlast the poll.
READ_TIMEOUT_OVERRIDES = {"sqs": 30}

_lock = threading.Lock()
_clients: dict[tuple[str, str | None, str], Any] = {}
_session: boto3.session.Session | None = None


def env_endpoint(service: str) -> str | None:
    """The endpoint boto3 will use for `service` from the environment, if any."""
    specific = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    return os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL") or None


def client_config(service: str) -> Config:
    """Short timeouts and the standard retry mode (exponential backoff; `max_attempts` 5 means five
    *retries* in botocore, so up to 6 attempts in all: measured in tests/reliability/test_aws_faults.py).

    S3 signs with SigV4 explicitly: botocore may otherwise presign with legacy SigV2 (seen for
    us-east-1 with a custom endpoint), which AWS no longer accepts for new buckets.
    """
    extra: dict[str, Any] = {"signature_version": "s3v4"} if service == "s3" else {}
    return Config(connect_timeout=CONNECT_TIMEOUT_S,
                  read_timeout=READ_TIMEOUT_OVERRIDES.get(service, READ_TIMEOUT_S),
                  retries={"mode": "standard", "max_attempts": 5}, **extra)


def client(service: str, *, region: str | None = None, endpoint_url: str | None = None) -> Any:
    """A cached boto3 client. `endpoint_url` wins over the environment; region defaults to Settings."""
    global _session
    region = region or Settings.from_env().region
    endpoint = endpoint_url or env_endpoint(service)
    key = (service, endpoint, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:  # boto3 sessions are not thread-safe: build clients one at a time
        found = _clients.get(key)
        if found is None:
            if _session is None:
                _session = boto3.session.Session()
            kwargs: dict[str, Any] = {"region_name": region, "config": client_config(service)}
            if endpoint_url:
                kwargs["endpoint_url"] = endpoint_url
            found = _clients[key] = _session.client(service, **kwargs)
        return found


def reset_clients() -> None:
    """Forget cached clients and the session (tests; credentials or endpoints changed)."""
    global _session
    with _lock:
        _clients.clear()
        _session = None


def s3(region: str | None = None) -> Any:
    return client("s3", region=region)


def dynamodb(region: str | None = None) -> Any:
    return client("dynamodb", region=region)


def sqs(region: str | None = None) -> Any:
    return client("sqs", region=region)


def sns(region: str | None = None) -> Any:
    return client("sns", region=region)


def stepfunctions(region: str | None = None) -> Any:
    return client("stepfunctions", region=region)


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def resolve_arn(service: str, name_or_arn: str, settings: Settings) -> str:
    """Settings carry ARNs on AWS (template.yaml) and plain names locally: build the ARN from
    the caller's account (sts:GetCallerIdentity needs no permission) when given a name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    identity_arn = client("sts", region=settings.region).get_caller_identity()["Arn"]
    partition, account = identity_arn.split(":")[1], identity_arn.split(":")[4]
    if service == "sns":
        return f"arn:{partition}:sns:{settings.region}:{account}:{name_or_arn}"
    if service == "states":
        return f"arn:{partition}:states:{settings.region}:{account}:stateMachine:{name_or_arn}"
    raise ValueError(f"no ARN rule for {service}")
