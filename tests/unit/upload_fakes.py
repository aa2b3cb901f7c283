"""What the two submit paths' unit tests share: a tiny VCF, small plan limits, a user, and the
S3/queue side of gas.submit's ports (presigned forms, HEAD of what S3 holds, publishing).
Each test module subclasses FakeUploadPorts with its own path: the CLI uploads through the
server (tests/unit/test_submit.py), the browser posts the form itself (test_upload_ticket.py)."""
from __future__ import annotations

import base64
import json

from gas import storage
from gas.jobs import now_iso
from gas.settings import Settings
from gas.users import User

VCF = b"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n1\t5\t.\tA\tG\t.\t.\t.\n"
SETTINGS = Settings(free_upload_limit_bytes=200, premium_upload_limit_bytes=10_000)


def user(plan: str = "free", user_id: str = "u-1") -> User:
    return User(user_id=user_id, name=f"n{user_id}", email="a@example.org", plan=plan, created_at=now_iso())


class FakeUploadPorts:
    """S3 objects in a dict, published requests in a list, every effect recorded in `calls`."""

    url = "http://s3"

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.objects: dict[str, bytes] = {}
        self.published: list = []

    def presigned_post(self, user_id, job_id, filename, max_bytes):
        self.calls.append("presign")
        self.max_bytes = max_bytes
        key = storage.input_key(user_id, job_id, filename)
        policy = {"conditions": [{"bucket": SETTINGS.inputs_bucket}, {"key": key},
                                 ["content-length-range", 1, max_bytes]]}
        return {"url": self.url, "key": key,
                "fields": {"key": key, "policy": base64.b64encode(json.dumps(policy).encode()).decode()}}

    def head(self, key):
        self.calls.append("head")
        data = self.objects.get(key)
        return None if data is None else storage.InputHead(key=key, size=len(data), first_bytes=data[:1024])

    def publish(self, request):
        self.calls.append("publish")
        self.published.append(request)
