"""Users and their plan, in the users table.

The plan (free | premium) is read from here on every decision (upload limit, archiving, thaw),
never from a login token: tokens and cookies keep old claims for weeks.

Table: partition key ``user_id`` (S). Names are unique (case-insensitively): `add` writes the
user and a guard item ``user_id = "name#<lower-case name>"`` in one transaction, so two sign-ups
with one name cannot both succeed, and `by_name` is two strongly consistent GetItems (no GSI,
no scan). Real user ids never contain '#', so guard items cannot collide with users.
"""
from __future__ import annotations

import secrets
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gas import aws
from gas.jobs import USER_ID_RE, now_iso
from gas.settings import Settings
from gas.store import from_dynamo, is_conditional_failure, to_dynamo

NAME_GUARD_PREFIX = "name#"


class Plan(StrEnum):
    FREE = "free"
    PREMIUM = "premium"


class User(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: str = Field(pattern=USER_ID_RE.pattern)
    name: str = Field(min_length=1, max_length=128)
    email: str = Field(min_length=3, max_length=254)
    plan: Plan = Plan.FREE
    created_at: str
    plan_changed_at: str | None = None

    @field_validator("name")
    @classmethod
    def _printable(cls, v: str) -> str:
        if v != v.strip() or not v.isprintable():
            raise ValueError("name must be printable without surrounding spaces")
        return v

    @field_validator("email")
    @classmethod
    def _email(cls, v: str) -> str:
        local, at, domain = v.rpartition("@")
        if not at or not local or "." not in domain or any(c.isspace() for c in v):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v


def name_guard_key(name: str) -> str:
    return NAME_GUARD_PREFIX + name.strip().lower()


class UserStore:
    """Users in DynamoDB; lost races and taken names return None/False."""

    def __init__(self, settings: Settings | None = None, *, client: Any = None,
                 table: str | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.table = table or self.settings.users_table
        self._client = client

    @property
    def ddb(self) -> Any:
        return self._client or aws.dynamodb(self.settings.region)

    def add(self, name: str, email: str, plan: Plan | str = Plan.FREE,
            user_id: str | None = None) -> User | None:
        """Create a user (id minted unless given, e.g. a Cognito sub); None if name or id is taken."""
        user = User(user_id=user_id or secrets.token_hex(16), name=name, email=email,
                    plan=Plan(plan), created_at=now_iso())
        try:
            self.ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": self.table, "Item": to_dynamo(user.model_dump(mode="json")),
                         "ConditionExpression": "attribute_not_exists(user_id)"}},
                {"Put": {"TableName": self.table,
                         "Item": to_dynamo({"user_id": name_guard_key(name), "owner": user.user_id}),
                         "ConditionExpression": "attribute_not_exists(user_id)"}},
            ])
        except ClientError as exc:
            if aws.error_code(exc) == "TransactionCanceledException":
                return None
            raise
        return user

    def get(self, user_id: str) -> User | None:
        if not USER_ID_RE.match(user_id or ""):
            return None
        item = self.ddb.get_item(TableName=self.table, Key={"user_id": {"S": user_id}},
                                 ConsistentRead=True).get("Item")
        return User.model_validate(from_dynamo(item)) if item else None

    def by_name(self, name: str) -> User | None:
        """The user with this name (case-insensitive), via the name guard item."""
        guard = self.ddb.get_item(TableName=self.table, Key={"user_id": {"S": name_guard_key(name)}},
                                  ConsistentRead=True).get("Item")
        return self.get(guard["owner"]["S"]) if guard else None

    def plan(self, user_id: str) -> Plan | None:
        """The user's current plan, from the database."""
        user = self.get(user_id)
        return user.plan if user else None

    def set_plan(self, user_id: str, plan: Plan | str, expected: Plan | str | None = None) -> bool:
        """Change the plan; True only for the call that actually changed it (so an upgrade
        message delivered twice starts the thaw once). `expected` adds a compare-and-set."""
        plan = Plan(plan)
        condition = "attribute_exists(#n) AND #p <> :p"
        values: dict[str, Any] = {":p": plan.value, ":t": now_iso()}
        if expected is not None:
            condition += " AND #p = :e"
            values[":e"] = Plan(expected).value
        if not USER_ID_RE.match(user_id or ""):
            return False
        try:
            self.ddb.update_item(TableName=self.table, Key={"user_id": {"S": user_id}},
                                 UpdateExpression="SET #p = :p, plan_changed_at = :t",
                                 ConditionExpression=condition,
                                 ExpressionAttributeNames={"#p": "plan", "#n": "name"},
                                 ExpressionAttributeValues=to_dynamo(values))
        except ClientError as exc:
            if is_conditional_failure(exc):
                return False
            raise
        return True
