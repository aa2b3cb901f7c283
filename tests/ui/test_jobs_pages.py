"""The jobs, job detail, account and outbox pages, run by streamlit's AppTest through the real
entry point (ui/app.py, so st.navigation, page links and switch_page are the app's own) against
in-process moto with every table, bucket, topic and queue from template.yaml.

The signed-in user is seeded as `session_state["user_id"]` (what the sign-in page sets);
AppTest cannot tick `run_every` or click dataframe rows, so those are not exercised here.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from gas import jobs as J
from gas.downloads import NO_SUCH_JOB
from gas.jobs import Job
from gas.local.outbox import outbox_dir
from gas.messages import ThawRequest, parse_record
from gas.store import JobStore
from gas.users import Plan, User, UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
OUTPUTS = (".annot.vcf.gz", ".parquet", ".transcripts.parquet", ".summary.json", ".log")
T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------- seeding

class World:
    """Users and jobs in the moto tables and bucket, the way the worker and lifecycle leave them."""

    def __init__(self, aws: Any) -> None:
        self.aws = aws
        self.settings = aws.settings
        self.jobs = JobStore(self.settings)
        self.users = UserStore(self.settings)
        self._n = 0

    def user(self, name: str, plan: str = "free") -> User:
        user = self.users.add(name, f"{name}@example.org", plan)
        assert user is not None
        return user

    def job(self, user: User, status: str = "PENDING", *, results: str | None = None, progress: float = 0.4,
            input_file: str = "sample.vcf", log: bytes = b"") -> Job:
        """A job of `user` in `status` (COMPLETED ones with their five outputs in the bucket;
        `results` archived/restoring moves them on)."""
        self._n += 1
        at = T0 + timedelta(minutes=self._n)
        job_id = J.new_job_id(int(at.timestamp() * 1000))
        job = J.new_job(user_id=user.user_id, input_file=input_file, input_size=2048, job_id=job_id,
                        input_key=f"{user.user_id}/{job_id}/{input_file}", now=J.to_iso(at))
        assert self.jobs.create(job)
        if status == "PENDING":
            return job
        started = J.to_iso(at + timedelta(seconds=5))
        self.jobs.claim(job_id, "w1", now=started)
        if status == "RUNNING":
            self.jobs.heartbeat(job_id, "w1", progress, now=started)
        elif status == "FAILED":
            self.jobs.fail(job_id, "line 3: not a VCF record <b>bold</b>", worker_id="w1")
        elif status == "COMPLETED":
            keys = []
            for suffix in OUTPUTS:
                key = f"{user.user_id}/{job_id}/sample{suffix}"
                body = log if suffix == ".log" else b"x" * 100
                self.aws.s3.put_object(Bucket=self.settings.results_bucket, Key=key, Body=body)
                keys.append(key)
            self.jobs.complete(job_id, "w1", 1234, keys, now=J.to_iso(at + timedelta(seconds=17)))
            if results in ("archived", "restoring"):
                self.jobs.set_results_state(job_id, "available", "archived", archived_at=J.now_iso())
            if results == "restoring":
                self.jobs.set_results_state(job_id, "archived", "restoring", restore_requested_at=J.now_iso(),
                                            restore_tier="Expedited")
        found = self.jobs.get(job_id)
        assert found is not None and found.status == status
        return found


@pytest.fixture
def world(gas_aws: Any) -> World:
    return World(gas_aws)


def page(user: User | None, path: str | None = None, **query: str) -> AppTest:
    """Run the app as `user`, on `path` (a file under ui/), with `query` as query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=30)
    if user is not None:
        at.session_state["user_id"] = user.user_id
    at.run()
    if path:
        at.switch_page(path)
        at.query_params.update(query)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    """Every piece of text the page shows (for 'is it there / is it absent' assertions)."""
    parts: list[str] = []
    for kind in ("title", "subheader", "markdown", "caption", "text", "code", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in getattr(at, kind)]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    for df in at.dataframe:
        parts.append(df.value.to_csv())
    return "\n".join(parts)


def link_urls(at: AppTest) -> list[str]:
    return [b.proto.url for b in at.get("link_button")]


# ----------------------------------------------------------------------------- jobs list

def test_jobs_empty_state_points_to_submit(world: World) -> None:
    at = page(world.user("alice"))
    assert any("You have no jobs yet" in i.value for i in at.info)
    assert [p.proto.page for p in at.get("page_link")] == ["submit"]
    assert not at.dataframe


def test_jobs_lists_only_the_users_jobs_with_statuses(world: World) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    pending = world.job(alice, "PENDING", input_file="first.vcf")
    running = world.job(alice, "RUNNING", progress=0.4, input_file="second.vcf")
    done = world.job(alice, "COMPLETED", input_file="third.vcf")
    world.job(bob, "COMPLETED", input_file="bobs-secret.vcf")

    at = page(alice)
    df = at.dataframe[0].value
    assert list(df["input"]) == ["third.vcf", "second.vcf", "first.vcf"]  # newest first
    assert list(df["status"]) == ["Completed", "Running", "Pending"]
    assert list(df["progress"]) == [1.0, 0.4, 0.0]
    assert list(df["job_id"]) == [done.job_id, running.job_id, pending.job_id]
    assert list(df["open"]) == [f"job?job={done.job_id}", f"job?job={running.job_id}", f"job?job={pending.job_id}"]
    assert df["variants"].iloc[0] == 1234 and df["results"].iloc[0] == "Available"
    assert df["submitted"].iloc[2] == "2026-11-20 09:01" and df["completed"].iloc[0] == "2026-11-20 09:03"
    assert "bobs-secret.vcf" not in texts(at)
    assert any("Updating every few seconds" in c.value for c in at.caption)  # something runs


def test_jobs_stop_refreshing_when_nothing_runs(world: World) -> None:
    alice = world.user("alice")
    world.job(alice, "COMPLETED")
    world.job(alice, "FAILED")
    at = page(alice)
    assert list(at.dataframe[0].value["status"]) == ["Failed", "Completed"]
    assert not any("Updating" in c.value for c in at.caption)


def test_jobs_paginate_fifty_at_a_time(world: World) -> None:
    alice = world.user("alice")
    for i in range(53):
        world.job(alice, "PENDING", input_file=f"in{i:02d}.vcf")
    at = page(alice)
    first = at.dataframe[0].value
    assert len(first) == 50 and first["input"].iloc[0] == "in52.vcf" and first["input"].iloc[-1] == "in03.vcf"
    assert [b.label for b in at.button] == ["Older jobs →"]
    at.button[0].click().run()
    second = at.dataframe[0].value
    assert list(second["input"]) == ["in02.vcf", "in01.vcf", "in00.vcf"]
    assert [b.label for b in at.button] == ["← Newer jobs"]  # no empty "older" page behind it
    assert any("Jobs 51–53" in c.value for c in at.caption)
    at.button[0].click().run()
    assert len(at.dataframe[0].value) == 50


# ----------------------------------------------------------------------------- job detail

def test_job_detail_of_another_user_reads_as_no_such_job(world: World) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    bobs = world.job(bob, "COMPLETED", input_file="bobs-secret.vcf", log=b"bob's run log\n")
    for query in ({"job": bobs.job_id}, {"id": bobs.job_id}, {"job": "0" * 32}, {"job": "../" + bobs.job_id}):
        at = page(alice, "views/job.py", **query)
        assert [e.value for e in at.error] == [NO_SUCH_JOB]
        shown = texts(at)
        assert "bobs-secret" not in shown and "bob's run log" not in shown and bobs.job_id not in shown
        assert not link_urls(at) and not at.dataframe and not at.metric


def test_job_detail_owner_gets_presigned_downloads_and_log(world: World) -> None:
    alice = world.user("alice")
    job = world.job(alice, "COMPLETED", input_file="my sample.vcf", log=b"start\nannotated 1234 records\n")
    at = page(alice, "views/job.py", job=job.job_id)
    assert not at.error
    shown = texts(at)
    assert "my sample.vcf" in shown and "2.0 KiB" in shown and "Status=Completed" in shown
    timeline = at.dataframe[0].value
    assert list(timeline["event"]) == ["Submitted", "Started", "Completed"]
    assert "1,234 variants in 12.0 s" in timeline["detail"].iloc[2]
    urls = link_urls(at)
    assert len(urls) == 5
    for suffix, url in zip(OUTPUTS, urls, strict=True):
        assert f"/{alice.user_id}/{job.job_id}/sample{suffix}" in url
        assert "X-Amz-Expires=300" in url and "X-Amz-Signature=" in url
        assert "response-content-disposition=attachment" in url
    assert any(c.value == "start\nannotated 1234 records" for c in at.code)  # st.code drops the last newline


def test_job_detail_email_link_form_works(world: World) -> None:
    alice = world.user("alice")
    job = world.job(alice, "RUNNING", progress=0.25)
    at = page(alice, "views/job.py", id=job.job_id)
    assert "Status=Running" in texts(at) and "Progress=25%" in texts(at)
    assert not link_urls(at)


def test_job_detail_without_a_query_reopens_the_last_job_seen(world: World) -> None:
    alice = world.user("alice")
    at = page(alice, "views/job.py")
    assert [i.value for i in at.info] == ["No job chosen. Pick one from your jobs list."]
    job = world.job(alice, "COMPLETED", input_file="mine.vcf")
    at.query_params["job"] = job.job_id
    at.run()
    at.query_params.clear()
    at.switch_page("views/job.py").run()
    assert "mine.vcf" in texts(at) and len(link_urls(at)) == 5


@pytest.mark.parametrize("state", ["archived", "restoring"])
def test_job_detail_refuses_downloads_while_archived_or_restoring(world: World, state: str) -> None:
    alice = world.user("alice")
    job = world.job(alice, "COMPLETED", results=state, log=b"secret log\n")
    at = page(alice, "views/job.py", job=job.job_id)
    assert not link_urls(at)
    assert "secret log" not in texts(at)
    events = list(at.dataframe[0].value["event"])
    if state == "archived":
        assert any("archived in cold storage" in w.value for w in at.warning)
        assert [p.proto.page for p in at.get("page_link")][-1] == "account"
        assert events[-1] == "Archived"
    else:
        assert any("being restored" in i.value and "Expedited" in i.value for i in at.info)
        assert events[-2:] == ["Archived", "Restore requested"]
    assert [t.value for t in at.text][-5:] == [f"sample{s}" for s in OUTPUTS]  # the files are listed


def test_job_detail_failed_job_shows_reason_as_text(world: World) -> None:
    alice = world.user("alice")
    job = world.job(alice, "FAILED")
    at = page(alice, "views/job.py", job=job.job_id)
    assert any("This job failed" in e.value for e in at.error)
    assert any(c.value == "line 3: not a VCF record <b>bold</b>" for c in at.code)
    assert list(at.dataframe[0].value["event"]) == ["Submitted", "Started", "Failed"]
    assert not link_urls(at)


# ----------------------------------------------------------------------------- account

def test_account_upgrade_makes_premium_and_thaws_archived_jobs(world: World) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    archived = {world.job(alice, "COMPLETED", results="archived").job_id for _ in range(2)}
    world.job(alice, "COMPLETED")  # available: nothing to thaw
    world.job(bob, "COMPLETED", results="archived")  # not alice's
    at = page(alice, "views/account.py")
    shown = texts(at)
    assert "Plan=Free" in shown and "Largest upload=150.0 MiB" in shown and "alice@example.org" in shown
    [upgrade] = [b for b in at.button if b.label == "Upgrade to premium"]
    upgrade.click().run()
    assert not at.exception
    assert world.users.plan(alice.user_id) == Plan.PREMIUM
    assert world.users.plan(bob.user_id) == Plan.FREE
    assert any("2 archived jobs are being restored" in s.value for s in at.success)
    assert "Plan=Premium" in texts(at) and not [b for b in at.button if b.label == "Upgrade to premium"]
    thaws = [parse_record(m, ThawRequest) for m in world.aws.receive("thaw_queue")]
    assert sorted(t.job_id for t in thaws) == sorted(archived) and {t.user_id for t in thaws} == {alice.user_id}


def test_account_premium_states_what_it_means(world: World) -> None:
    at = page(world.user("carol", plan="premium"), "views/account.py")
    shown = texts(at)
    assert "Plan=Premium" in shown and "Largest upload=5.0 GiB" in shown and "never archived" in shown
    assert not at.button


# ----------------------------------------------------------------------------- outbox

def _mail(data_dir: Path, to: str, subject: str, body: str, minutes: int) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "gas@example.org", to, subject
    msg["Date"] = format_datetime(T0 + timedelta(minutes=minutes))
    msg["X-SES-Message-Id"] = f"m{minutes}"
    msg.set_content(body)
    d = outbox_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"2026112{minutes}T000000.000Z-m{minutes}.eml").write_bytes(msg.as_bytes())


def test_outbox_shows_only_the_users_mail_newest_first(world: World, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    alice, bob = world.user("alice"), world.user("bob")
    _mail(tmp_path, "alice@example.org", "GAS: annotation of a.vcf COMPLETED", "first <script>x</script>", 1)
    _mail(tmp_path, "bob@example.org", "GAS: annotation of bobs.vcf COMPLETED", "bob's mail", 2)
    _mail(tmp_path, "Alice <ALICE@example.org>", "GAS: annotation of b.vcf FAILED", "second", 3)
    monkeypatch.setenv("GAS_LOCAL_STACK", "1")
    monkeypatch.setenv("GAS_LOCAL_DATA_DIR", str(tmp_path))
    at = page(alice, "views/outbox.py")
    assert [t.value for t in at.text] == ["GAS: annotation of b.vcf FAILED", "GAS: annotation of a.vcf COMPLETED"]
    assert [c.value for c in at.code] == ["second", "first <script>x</script>"]
    assert "bobs.vcf" not in texts(at) and "bob's mail" not in texts(at)
    assert [c.value for c in page(bob, "views/outbox.py").code] == ["bob's mail"]
    empty = page(world.user("dave"), "views/outbox.py")
    assert any("No e-mail for you yet" in i.value for i in empty.info) and not empty.code


@pytest.mark.parametrize("name", ["jobs.py", "job.py", "account.py", "outbox.py"])
def test_each_page_checks_the_user_itself(world: World, name: str) -> None:
    job = world.job(world.user("alice"), "COMPLETED")
    at = AppTest.from_file(str(APP.parent / "views" / name), default_timeout=30)
    at.query_params["job"] = job.job_id
    at.session_state["user_id"] = "nobody"
    at.run()
    assert not at.exception
    assert [i.value for i in at.info] == ["Please sign in to continue."]
    assert not at.dataframe and not at.metric and not at.get("link_button") and not at.text
