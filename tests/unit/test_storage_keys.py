"""S3 key layout: per-user prefixes, traversal refused, VCF sniffing, POST policy oracle."""
from __future__ import annotations

import base64
import gzip
import json

import pytest

from gas import storage as S

JOB = "0190f3a1b2c3d4e5f6a7b8c9d0e1f2a3"
OTHER_JOB = "0190f3a1b2c3d4e5f6a7b8c9d0e1f2a4"


@pytest.mark.parametrize("name,safe", [
    ("sample.vcf.gz", "sample.vcf.gz"),
    ("my sample (1).vcf", "my_sample_1_.vcf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\x.vcf", "x.vcf"),
    ("..", "input.vcf"),
    (".hidden.vcf", "hidden.vcf"),
    ("", "input.vcf"),
    ("ünïcødé.vcf", "_n_c_d_.vcf"),
    ("a/b/", "input.vcf"),
])
def test_safe_filename(name, safe):
    assert S.safe_filename(name) == safe


def test_long_filename_keeps_extension():
    name = S.safe_filename("x" * 300 + ".vcf.gz")
    assert len(name) <= S.MAX_FILENAME and name.endswith(".gz")


def test_layout():
    assert S.input_key("alice", JOB, "../my file.vcf") == f"alice/{JOB}/my_file.vcf"
    assert S.result_key("alice", JOB, "annotated.vcf.gz") == f"alice/{JOB}/annotated.vcf.gz"
    assert S.job_prefix("alice", JOB) == f"alice/{JOB}/"
    assert S.parse_key(f"alice/{JOB}/a.vcf") == ("alice", JOB, "a.vcf")
    with pytest.raises(S.InvalidKey):
        S.result_key("alice", JOB, "../x")
    with pytest.raises(S.InvalidKey):
        S.input_key("../alice", JOB, "a.vcf")
    with pytest.raises(S.InvalidKey):
        S.input_key("alice", "not-a-job", "a.vcf")


@pytest.mark.parametrize("key,ok", [
    (f"alice/{JOB}/a.vcf", True),
    (f"bob/{JOB}/a.vcf", False),                 # another user's prefix
    (f"alice2/{JOB}/a.vcf", False),              # a prefix that merely starts the same
    (f"alice/{JOB}/../../bob/{JOB}/a.vcf", False),
    (f"alice/{JOB}/..", False),
    (f"alice/{JOB}/", False),
    (f"alice/{JOB}/sub/a.vcf", False),
    (f"alice//{JOB}/a.vcf", False),
    (f"/alice/{JOB}/a.vcf", False),
    (f"alice/../{JOB}/a.vcf", False),
    (f"alice/{JOB}/a b.vcf", False),
    ("alice", False),
    ("", False),
])
def test_key_belongs_to(key, ok):
    assert S.key_belongs_to(key, "alice") is ok


def test_key_belongs_to_job():
    assert S.key_belongs_to(f"alice/{JOB}/a.vcf", "alice", JOB)
    assert not S.key_belongs_to(f"alice/{JOB}/a.vcf", "alice", OTHER_JOB)


def test_looks_like_vcf():
    text = b"##fileformat=VCFv4.2\n##source=x\n#CHROM\tPOS\n"
    assert S.looks_like_vcf(text)
    assert S.looks_like_vcf(gzip.compress(text * 50)[:S.HEAD_BYTES])
    assert not S.looks_like_vcf(gzip.compress(b"PK\x03\x04 this is a zip, not a VCF" * 10))
    assert not S.looks_like_vcf(b"PK\x03\x04")
    assert not S.looks_like_vcf(b"#CHROM\tPOS\n")          # header line missing
    assert not S.looks_like_vcf(b"")
    assert S.looks_like_vcf(b"\x1f\x8b")                    # too short to judge: the worker decides
    assert not S.looks_like_vcf(b"\x1f\x8b\x08\x00garbage-garbage-garbage")


def _fields(conditions: list) -> dict:
    policy = base64.b64encode(json.dumps({"expiration": "2030-01-01T00:00:00Z",
                                          "conditions": conditions}).encode()).decode()
    return {"key": f"alice/{JOB}/a.vcf", "policy": policy}


def test_check_post_policy_oracle():
    f = _fields([{"bucket": "gas-inputs"}, ["content-length-range", 1, 100], {"key": f"alice/{JOB}/a.vcf"}])
    assert S.check_post_policy(f, "gas-inputs", 100) is None
    assert S.check_post_policy(f, "gas-inputs", 101) == "EntityTooLarge"
    assert S.check_post_policy(f, "gas-inputs", 0) == "EntityTooSmall"
    assert "bucket" in S.check_post_policy(f, "other", 10)
    assert "key" in S.check_post_policy({**f, "key": f"bob/{JOB}/a.vcf"}, "gas-inputs", 10)
