"""The account page's facts and its one action, the upgrade to premium.

The plan is always the users table's (the caller passes a fresh `UserStore.get`), never a
token's. Upgrading is `gas.lifecycle.subscribe`: the plan becomes premium and every archived
job of the user gets a ThawRequest, so its results come back from cold storage. There is no
payment step in GAS (docs/ui.md).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gas import lifecycle
from gas.jobs import ResultsState
from gas.settings import Settings
from gas.submit import human_bytes, upload_limit
from gas.timeline import TIER_DELAY
from gas.users import Plan, User

log = logging.getLogger(__name__)

UPGRADE_FAILED = "The upgrade did not complete. Please try again in a minute (trying again is safe)."


@dataclass(frozen=True)
class AccountView:
    name: str
    email: str
    plan: str                 # "Free" / "Premium"
    upload_limit: str         # "150.0 MiB"
    premium: bool
    plan_terms: list[str]     # what the plan means, one sentence each


def _after(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} day(s)"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} hour(s)"
    if seconds % 60 == 0:
        return f"{seconds // 60} minute(s)"
    return f"{seconds} seconds"


def plan_terms(plan: Plan | str, settings: Settings) -> list[str]:
    """The plan in plain words, from the settings the service really enforces."""
    limit = human_bytes(upload_limit(plan, settings))
    if Plan(plan) == Plan.PREMIUM:
        return [f"Upload VCF files up to {limit}.",
                "Results stay in standard storage: downloadable at any time, never archived.",
                "Results archived while you were on the free plan have been sent for restoring."]
    return [f"Upload VCF files up to {limit}.",
            (f"Results are downloadable for {_after(settings.archive_delay_s)} after a job completes, "
             "then archived to cold storage."),
            "Upgrading to premium restores archived results (usually within minutes) and keeps new ones."]


def account_view(user: User, settings: Settings) -> AccountView:
    return AccountView(name=user.name, email=user.email, plan=user.plan.value.capitalize(),
                       upload_limit=human_bytes(upload_limit(user.plan, settings)),
                       premium=user.plan == Plan.PREMIUM, plan_terms=plan_terms(user.plan, settings))


@dataclass(frozen=True)
class UpgradeResult:
    ok: bool
    thaw_requests: int
    message: str


def upgrade_message(count: int) -> str:
    if count == 0:
        return "You are on the premium plan. You had no archived results to restore."
    jobs = "1 archived job is" if count == 1 else f"{count} archived jobs are"
    return (f"You are on the premium plan. {jobs} being restored: {TIER_DELAY['Expedited']}, "
            f"at most {TIER_DELAY['Standard'].removeprefix('usually ')} when fast retrieval is busy.")


def upgrade(user_id: str, settings: Settings, *, jobs: Any = None, users: Any = None,
            sns: Any = None) -> UpgradeResult:
    """Subscribe the user; an AWS failure becomes a sentence (logged with its details)."""
    try:
        count = lifecycle.subscribe(user_id, settings, jobs=jobs, users=users, sns=sns)
    except Exception:  # shown to the user as words, logged in full
        log.exception("upgrade of user %s failed", user_id)
        return UpgradeResult(False, 0, UPGRADE_FAILED)
    return UpgradeResult(True, count, upgrade_message(count))


def restoring_count(store: Any, user_id: str) -> int:
    """How many of the user's jobs are restoring now (the by_results_state index)."""
    return sum(1 for _ in store.archived_for_user(user_id, state=ResultsState.RESTORING))
