"""gas.auth and gas.sessions against moto: the template's user pool and sessions table, real calls.

Sign-up (auto-confirmed as on the embedded stack, and with a confirmation step as in
production), sign-in, the operator's `create_login`, sessions: expiry, revocation, tampered and
forged tokens.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from gas import aws
from gas.auth import (
    BAD_CREDENTIALS,
    Auth,
    BadCredentials,
    EmailTaken,
    NameTaken,
    NotConfirmed,
    WeakPassword,
)
from gas.sessions import SessionStore, token_hash
from gas.settings import Settings
from gas.users import UserStore

pytest_plugins = ["tests.integration.aws_fixtures"]

PASSWORD = "Correct-Horse-42"


def pool_settings(gas_aws: Any, auto_confirm: int = 1) -> Settings:
    """Settings with the ids of the pool and client provisioned from template.yaml."""
    idp = aws.client("cognito-idp", region=gas_aws.settings.region)
    (pool,) = idp.list_user_pools(MaxResults=10)["UserPools"]
    (app,) = idp.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    return dataclasses.replace(gas_aws.settings, user_pool_id=pool["Id"], user_pool_client_id=app["ClientId"],
                               signup_auto_confirm=auto_confirm)


@pytest.fixture
def settings(gas_aws) -> Settings:
    return pool_settings(gas_aws)


class Clock:
    def __init__(self, t: float = 2_000_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_sign_up_sign_in_and_a_session(settings):
    auth = Auth(settings)
    result = auth.sign_up("alice", "Alice@Example.org", PASSWORD)
    assert result.confirmed and result.user.email == "alice@example.org"
    idp = aws.client("cognito-idp", region=settings.region)
    login = idp.admin_get_user(UserPoolId=settings.user_pool_id, Username="alice@example.org")
    assert login["UserStatus"] == "CONFIRMED"
    sub = {a["Name"]: a["Value"] for a in login["UserAttributes"]}["sub"]
    assert result.user.user_id == sub                       # the GAS user id is the Cognito sub
    assert UserStore(settings).by_name("ALICE").user_id == sub

    user = auth.sign_in(" alice@example.org ", PASSWORD)
    assert user.user_id == sub and user.name == "alice"
    sessions = SessionStore(settings)
    token = sessions.create(user.user_id)
    assert sessions.lookup(token) == sub
    sessions.revoke(token)
    assert sessions.lookup(token) is None
    sessions.revoke(token)  # idempotent


def test_wrong_password_and_unknown_email_give_the_same_answer(settings):
    auth = Auth(settings)
    auth.sign_up("bob", "bob@example.org", PASSWORD)
    answers = []
    for email, password in (("bob@example.org", PASSWORD + "x"), ("nobody@example.org", PASSWORD), ("", ""),
                            ("bob@example.org", "")):
        with pytest.raises(BadCredentials) as err:
            auth.sign_in(email, password)
        answers.append(str(err.value))
    assert set(answers) == {BAD_CREDENTIALS}


def test_refusals_create_nothing(settings):
    auth = Auth(settings)
    auth.sign_up("carol", "carol@example.org", PASSWORD)
    idp = aws.client("cognito-idp", region=settings.region)

    def logins() -> int:
        return len(idp.list_users(UserPoolId=settings.user_pool_id)["Users"])

    with pytest.raises(WeakPassword, match="at least 12 characters"):
        auth.sign_up("dave", "dave@example.org", "Short1a")
    with pytest.raises(NameTaken, match="'Carol' is taken"):
        auth.sign_up("Carol", "other@example.org", PASSWORD)
    with pytest.raises(EmailTaken):
        auth.sign_up("carol2", "CAROL@example.org", PASSWORD)
    assert logins() == 1
    assert UserStore(settings).by_name("dave") is None and UserStore(settings).by_name("carol2") is None


def test_a_name_lost_to_a_race_removes_the_new_login(settings):
    users = UserStore(settings)
    auth = Auth(settings, users=users)
    real_by_name = users.by_name
    users.by_name = lambda name: None          # the name looked free...
    users.add("erin", "first@example.org")     # ...and someone takes it meanwhile
    with pytest.raises(NameTaken):
        auth.sign_up("erin", "erin@example.org", PASSWORD)
    users.by_name = real_by_name
    idp = aws.client("cognito-idp", region=settings.region)
    assert idp.list_users(UserPoolId=settings.user_pool_id)["Users"] == []
    auth.sign_up("erin2", "erin@example.org", PASSWORD)   # the e-mail is free again


def test_production_sign_up_waits_for_the_code(gas_aws):
    settings = pool_settings(gas_aws, auto_confirm=0)
    auth = Auth(settings)
    result = auth.sign_up("fay", "fay@example.org", PASSWORD)
    assert not result.confirmed
    with pytest.raises(NotConfirmed):
        auth.sign_in("fay@example.org", PASSWORD)
    auth.confirm_sign_up("fay@example.org", "123456")   # moto accepts any code (AWS checks it)
    assert auth.sign_in("fay@example.org", PASSWORD).user_id == result.user.user_id


def test_operator_login_with_a_generated_password(settings):
    auth = Auth(settings)
    user, password = auth.create_login("gus", "gus@example.org", "premium")
    assert password and auth.password_policy().accepts(password)
    assert user.plan.value == "premium"
    assert auth.sign_in("gus@example.org", password).user_id == user.user_id
    given, none = auth.create_login("hal", "hal@example.org", password=PASSWORD)
    assert none is None and auth.sign_in("hal@example.org", PASSWORD).user_id == given.user_id
    with pytest.raises(WeakPassword):
        auth.create_login("ivy", "ivy@example.org", password="weak")
    idp = aws.client("cognito-idp", region=settings.region)
    assert len(idp.list_users(UserPoolId=settings.user_pool_id)["Users"]) == 2


def test_expired_tampered_and_forged_tokens_are_nobody(settings):
    clock = Clock()
    sessions = SessionStore(settings, clock=clock, ttl_s=3600)
    alice, bob = "sub-alice", "sub-bob"
    a, b = sessions.create(alice), sessions.create(bob)
    assert (sessions.lookup(a), sessions.lookup(b)) == (alice, bob)

    # the table holds hashes, never a token
    ddb = aws.dynamodb(settings.region)
    items = ddb.scan(TableName=settings.sessions_table)["Items"]
    assert {i["token_hash"]["S"] for i in items} == {token_hash(a), token_hash(b)}
    assert not any(t in str(items) for t in (a, b))

    # tampered: one character changed, truncated, extended, hash given as token
    flipped = a[:-1] + ("A" if a[-1] != "A" else "B")
    for forged in (flipped, a[:-1], a + "x", token_hash(a), token_hash(a)[:43], b.swapcase(),
                   hashlib.sha256(bob.encode()).hexdigest()[:43], "", None, "x" * 43):
        assert sessions.lookup(forged) is None, forged
    # a token is only ever its own user's, even after the other one signs in again
    sessions.create(bob)
    assert sessions.lookup(a) == alice

    clock.t += 3599
    assert sessions.lookup(a) == alice
    clock.t += 1                      # expired: gone even though DynamoDB's TTL has not run
    assert sessions.lookup(a) is None and sessions.lookup(b) is None
    assert len(ddb.scan(TableName=settings.sessions_table)["Items"]) == 3   # still stored, still refused
