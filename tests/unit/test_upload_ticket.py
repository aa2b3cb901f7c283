"""The browser path of gas.submit with fakes: start_upload refuses before anything exists,
finish_upload checks the object as S3 holds it, deletes what it refuses, and is idempotent."""
from __future__ import annotations

import dataclasses
import gzip

import pytest

from gas import storage
from gas.jobs import JOB_ID_RE, Status
from gas.submit import (
    NotAVcf,
    NotYours,
    TooLarge,
    UploadFailed,
    abandon_upload,
    finish_upload,
    start_upload,
)
from gas.users import User
from tests.unit.upload_fakes import SETTINGS, VCF, FakeUploadPorts, user


class FakePorts(FakeUploadPorts):
    """The browser path: the browser posts the form; jobs in a dict."""

    url = "http://s3/gas-inputs"

    def __init__(self) -> None:
        super().__init__()
        self.jobs: dict[str, object] = {}
        self.lose_create_race = False

    def upload(self, post, filename, stream, size):  # the CLI path only
        raise AssertionError("the browser path never uploads through the server")

    def browser_post(self, ticket, data: bytes) -> None:
        """What the browser does: POST the form to S3 (no server involved)."""
        self.objects[ticket.fields["key"]] = data

    def get_job(self, job_id):
        self.calls.append("get")
        return self.jobs.get(job_id)

    def create(self, job):
        self.calls.append("create")
        if self.lose_create_race:  # another finish of the same ticket created it a moment ago
            self.jobs[job.job_id] = job
            return False
        if job.job_id in self.jobs:
            return False
        self.jobs[job.job_id] = job
        return True

    def delete(self, key):
        self.calls.append("delete")
        self.objects.pop(key, None)


# ----------------------------------------------------------------------------- start_upload

def test_start_returns_a_ticket_for_the_users_key_capped_by_the_plan():
    ports = FakePorts()
    t = start_upload(user(), "../My Sample.vcf", len(VCF), VCF[:65536], settings=SETTINGS, ports=ports)
    assert ports.calls == ["presign"]
    assert JOB_ID_RE.match(t.job_id) and t.user_id == "u-1"
    assert t.key == f"u-1/{t.job_id}/My_Sample.vcf" and t.filename == "../My Sample.vcf"
    assert t.limit == 200 and t.declared_size == len(VCF) and t.expires_at.endswith("Z")
    assert t.form() == {"url": "http://s3/gas-inputs", "fields": t.fields}
    assert storage.check_post_policy(t.fields, SETTINGS.inputs_bucket, 201) == "EntityTooLarge"
    premium = start_upload(user("premium"), "x.vcf.gz", 5000, gzip.compress(VCF), settings=SETTINGS, ports=ports)
    assert premium.limit == 10_000


@pytest.mark.parametrize("name,size,head,exc,words", [
    ("big.vcf", 201, VCF, TooLarge, "big.vcf is 201 bytes; the free plan accepts up to 200 bytes; upgrade"),
    ("empty.vcf", 0, b"", NotAVcf, "empty.vcf is empty"),
    ("notes.txt", 50, b"hello world", NotAVcf, "does not look like a VCF"),
    ("x.vcf.gz", 50, gzip.compress(b"hello world, no vcf in here"), NotAVcf, "does not look like a VCF"),
    ("picture.png", 100, b"\x89PNG\r\n\x1a\n", NotAVcf, "does not look like a VCF"),
])
def test_start_refuses_before_anything_exists(name, size, head, exc, words):
    ports = FakePorts()
    with pytest.raises(exc) as info:
        start_upload(user(), name, size, head, settings=SETTINGS, ports=ports)
    assert words in info.value.reason and "\n" not in info.value.reason
    assert ports.calls == []  # no id minted into a form, no object, no job


def test_start_without_first_bytes_checks_size_only():
    ports = FakePorts()
    assert start_upload(user(), "a.vcf", 10, None, settings=SETTINGS, ports=ports).limit == 200
    with pytest.raises(TooLarge):
        start_upload(user(), "a.vcf", 10**9, None, settings=SETTINGS, ports=ports)


# ----------------------------------------------------------------------------- finish_upload

def uploaded(ports: FakePorts, data: bytes = VCF, who: User | None = None, name: str = "s.vcf"):
    t = start_upload(who or user(), name, len(data), data[:65536], settings=SETTINGS, ports=ports)
    ports.browser_post(t, data)
    ports.calls.clear()
    return t


def test_finish_creates_one_pending_job_and_publishes_once():
    ports = FakePorts()
    t = uploaded(ports)
    job = finish_upload(user(), t, settings=SETTINGS, ports=ports)
    assert ports.calls == ["get", "head", "create", "publish"]
    assert job.job_id == t.job_id and job.status == Status.PENDING and job.input_key == t.key
    assert job.input_size == len(VCF) and job.input_file == "s.vcf"
    [req] = ports.published
    assert (req.job_id, req.user_id, req.input_key, req.input_bucket) == (
        t.job_id, "u-1", t.key, SETTINGS.inputs_bucket)


def test_finish_twice_returns_the_same_job_and_publishes_nothing_more():
    ports = FakePorts()
    t = uploaded(ports)
    first = finish_upload(user(), t, settings=SETTINGS, ports=ports)
    ports.calls.clear()
    again = finish_upload(user(), t, settings=SETTINGS, ports=ports)
    assert again == first and ports.calls == ["get"] and len(ports.published) == 1 and len(ports.jobs) == 1


def test_finish_losing_the_create_race_returns_the_winners_job_unpublished():
    ports = FakePorts()
    t = uploaded(ports)
    ports.lose_create_race = True
    job = finish_upload(user(), t, settings=SETTINGS, ports=ports)
    assert job.job_id == t.job_id and ports.published == [] and ports.calls[-1] == "get"


def test_finish_uses_the_real_size_not_the_declared_one():
    ports = FakePorts()
    t = start_upload(user(), "s.vcf", 10, VCF, settings=SETTINGS, ports=ports)  # the browser lied
    ports.browser_post(t, VCF)
    assert finish_upload(user(), t, settings=SETTINGS, ports=ports).input_size == len(VCF)


def test_finish_without_an_object_creates_nothing():
    ports = FakePorts()
    t = start_upload(user(), "s.vcf", len(VCF), VCF, settings=SETTINGS, ports=ports)
    ports.calls.clear()
    with pytest.raises(UploadFailed, match="did not arrive"):
        finish_upload(user(), t, settings=SETTINGS, ports=ports)
    assert ports.calls == ["get", "head"] and ports.jobs == {}


@pytest.mark.parametrize("data,exc,words", [
    (b"MZ\x90\x00 not a vcf at all" * 3, NotAVcf, "does not look like a VCF"),
    (gzip.compress(b"a gzip file of something else" * 4), NotAVcf, "does not look like a VCF"),
    (VCF + b"#" * 300, TooLarge, "the free plan accepts up to 200 bytes"),  # moto ignores the policy
])
def test_finish_deletes_a_refused_object_and_creates_no_job(data, exc, words):
    ports = FakePorts()
    t = start_upload(user(), "s.vcf", len(VCF), VCF, settings=SETTINGS, ports=ports)  # declared fine
    ports.browser_post(t, data)                                                      # posted otherwise
    ports.calls.clear()
    with pytest.raises(exc) as info:
        finish_upload(user(), t, settings=SETTINGS, ports=ports)
    assert words in info.value.reason
    assert ports.calls == ["get", "head", "delete"] and ports.objects == {} and ports.jobs == {}
    assert ports.published == []


def test_finish_checks_the_plan_at_finish_time():
    ports = FakePorts()
    big = VCF + b"#" * 1000
    t = uploaded(ports, big, who=user("premium"))
    with pytest.raises(TooLarge):  # downgraded to free between start and finish
        finish_upload(user("free"), t, settings=SETTINGS, ports=ports)
    assert ports.objects == {}


def test_another_users_ticket_or_key_is_refused_before_any_read():
    ports = FakePorts()
    t = uploaded(ports)
    bob = user(user_id="bob")
    with pytest.raises(NotYours):
        finish_upload(bob, t, settings=SETTINGS, ports=ports)
    # a ticket re-pointed at bob's name but keeping alice's key, or at another job's key
    for forged in (dataclasses.replace(t, user_id="bob"),
                   dataclasses.replace(t, key=f"u-1/{'0' * 32}/s.vcf"),
                   dataclasses.replace(t, key=f"u-1/{t.job_id}/other.vcf"),
                   dataclasses.replace(t, key=f"u-1/{t.job_id}/../bob/x.vcf")):
        with pytest.raises(NotYours):
            finish_upload(bob if forged.user_id == "bob" else user(), forged, settings=SETTINGS, ports=ports)
    assert ports.calls == [] and ports.jobs == {} and t.key in ports.objects


def test_a_job_id_taken_by_another_upload_is_refused():
    ports = FakePorts()
    t = uploaded(ports)
    finish_upload(user(), t, settings=SETTINGS, ports=ports)
    other = dataclasses.replace(t, filename="other.vcf", key=f"u-1/{t.job_id}/other.vcf")
    ports.objects[other.key] = VCF
    with pytest.raises(NotYours):
        finish_upload(user(), other, settings=SETTINGS, ports=ports)
    assert other.key in ports.objects  # not ours to delete: it is not what the job refers to


# ----------------------------------------------------------------------------- abandon_upload

def test_abandon_deletes_a_partial_object_but_never_a_jobs_input():
    ports = FakePorts()
    t = uploaded(ports)
    assert abandon_upload(user(), t, settings=SETTINGS, ports=ports) is True and ports.objects == {}
    assert abandon_upload(user(), t, settings=SETTINGS, ports=ports) is False
    t2 = uploaded(ports)
    finish_upload(user(), t2, settings=SETTINGS, ports=ports)
    assert abandon_upload(user(), t2, settings=SETTINGS, ports=ports) is False and t2.key in ports.objects
    with pytest.raises(NotYours):
        abandon_upload(user(user_id="bob"), t2, settings=SETTINGS, ports=ports)
