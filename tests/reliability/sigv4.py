"""What S3 checks on a presigned URL or POST form, as a test oracle (moto 5.2 checks none of it:
an expired, re-keyed or re-signed GET answers 200 and any POST is stored; measured in
test_access.py). Signature Version 4, query-string and POST-policy forms, for the fake
credentials of the local stack and moto.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlsplit


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def _enc(s: str) -> str:
    return quote(s, safe="-_.~")


def check_presigned_get(url: str, secret: str, now: datetime | None = None) -> str | None:
    """The reason S3 would refuse this presigned GET at `now`, or None when it would serve it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    try:
        amz_date = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(params["X-Amz-Expires"])
        credential = params["X-Amz-Credential"]
        signature = params["X-Amz-Signature"]
        signed_headers = params["X-Amz-SignedHeaders"]
    except (KeyError, ValueError):
        return "AuthorizationQueryParametersError"
    if not 1 <= expires <= 604800:
        return "AuthorizationQueryParametersError: X-Amz-Expires out of range"
    now = now or datetime.now(UTC)
    if now > amz_date + timedelta(seconds=expires):
        return "AccessDenied: Request has expired"
    _, date, region, service, _ = credential.split("/")
    canonical_query = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in sorted(query) if k != "X-Amz-Signature")
    headers = {"host": parts.netloc}
    canonical_headers = "".join(f"{h}:{headers[h]}\n" for h in signed_headers.split(";"))
    canonical = "\n".join(["GET", parts.path or "/", canonical_query, canonical_headers, signed_headers,
                           "UNSIGNED-PAYLOAD"])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "SignatureDoesNotMatch"
    return None


def check_post_signature(fields: dict[str, str], secret: str, now: datetime | None = None) -> str | None:
    """The reason S3 would refuse this POST form's policy at `now` (signature, expiration), or None.
    The policy's conditions themselves are `gas.storage.check_post_policy`'s job."""
    policy_b64 = fields.get("policy", "")
    _, date, region, service, _ = fields["x-amz-credential"].split("/")
    expected = hmac.new(signing_key(secret, date, region, service), policy_b64.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        return "SignatureDoesNotMatch"
    policy = json.loads(base64.b64decode(policy_b64))
    expiration = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    if (now or datetime.now(UTC)) > expiration:
        return "AccessDenied: Invalid according to Policy: Policy expired"
    return None
