"""gas.account: the plan in words, and the upgrade (subscribe) with failures as sentences."""
from __future__ import annotations

from job_factory import FakeJobStore, make_job

from gas import account as A
from gas.jobs import now_iso
from gas.settings import Settings
from gas.users import Plan, User

ST = Settings(archive_delay_s=300)


def user(plan: str = "free") -> User:
    return User(user_id="alice", name="Alice", email="alice@example.org", plan=plan, created_at=now_iso())


class FakeUsers:
    def __init__(self, u: User) -> None:
        self.u = u

    def get(self, user_id):
        return self.u if user_id == self.u.user_id else None

    def set_plan(self, user_id, plan, expected=None):
        changed = self.u.plan != Plan(plan)
        self.u = self.u.model_copy(update={"plan": Plan(plan)})
        return changed


class FakeSns:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.published: list[str] = []

    def publish(self, TopicArn, Message):
        if self.fail:
            raise ConnectionError("network down")
        self.published.append(Message)


def test_free_account_view_states_the_limits() -> None:
    view = A.account_view(user(), ST)
    assert (view.name, view.email, view.plan, view.upload_limit, view.premium) == (
        "Alice", "alice@example.org", "Free", "150.0 MiB", False)
    assert "Upload VCF files up to 150.0 MiB." in view.plan_terms
    assert any("for 5 minute(s) after a job completes" in t for t in view.plan_terms)


def test_premium_account_view() -> None:
    view = A.account_view(user("premium"), ST)
    assert view.plan == "Premium" and view.upload_limit == "5.0 GiB" and view.premium
    assert any("never archived" in t for t in view.plan_terms)


def test_archive_delay_in_words() -> None:
    assert any("for 2 day(s)" in t for t in A.plan_terms("free", Settings(archive_delay_s=2 * 86400)))
    assert any("for 3 hour(s)" in t for t in A.plan_terms("free", Settings(archive_delay_s=3 * 3600)))
    assert any("for 45 seconds" in t for t in A.plan_terms("free", Settings(archive_delay_s=45)))


def test_upgrade_thaws_every_archived_job_and_says_so() -> None:
    jobs = FakeJobStore([make_job("COMPLETED", n=0, results="archived"), make_job("COMPLETED", n=1, results="archived"),
                         make_job("COMPLETED", n=2), make_job("COMPLETED", n=3, user="bob", results="archived")])
    users, sns = FakeUsers(user()), FakeSns()
    result = A.upgrade("alice", Settings(thaw_topic="arn:aws:sns:us-east-1:123456789012:gas-thaw"),
                       jobs=jobs, users=users, sns=sns)
    assert result.ok and result.thaw_requests == 2 and len(sns.published) == 2
    assert users.u.plan == Plan.PREMIUM
    assert result.message.startswith("You are on the premium plan. 2 archived jobs are being restored")
    assert all('"user_id":"alice"' in m.replace(" ", "") for m in sns.published)


def test_upgrade_messages() -> None:
    assert "no archived results" in A.upgrade_message(0)
    assert "1 archived job is being restored: usually 1–5 minutes, at most 3–5 hours" in A.upgrade_message(1)


def test_upgrade_failure_is_a_sentence() -> None:
    jobs = FakeJobStore([make_job("COMPLETED", results="archived")])
    result = A.upgrade("alice", Settings(thaw_topic="arn:aws:sns:us-east-1:123456789012:gas-thaw"),
                       jobs=jobs, users=FakeUsers(user()), sns=FakeSns(fail=True))
    assert not result.ok and result.message == A.UPGRADE_FAILED and "Traceback" not in result.message


def test_restoring_count() -> None:
    jobs = FakeJobStore([make_job("COMPLETED", n=0, results="restoring"), make_job("COMPLETED", n=1, results="archived")])
    assert A.restoring_count(jobs, "alice") == 1
