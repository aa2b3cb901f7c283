"""gas.auth and gas.sessions with fakes: no moto, no network.

- `Auth` against a fake Cognito and a fake users table: what is created, in which order, what
  is undone, which message each refusal gives;
- `CognitoPool` (the boto3 adapter) with botocore's Stubber: Cognito's error codes -> AuthErrors;
- `PasswordPolicy`: description, checks, generated passwords;
- `SessionStore` against a dict-backed fake DynamoDB client.
"""
from __future__ import annotations

import itertools
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from gas.auth import (
    BAD_CREDENTIALS,
    Auth,
    AuthError,
    AuthUnavailable,
    BadCode,
    BadCredentials,
    CognitoPool,
    EmailTaken,
    InvalidInput,
    NameTaken,
    NotConfirmed,
    PasswordPolicy,
    TooManyAttempts,
    WeakPassword,
)
from gas.jobs import now_iso
from gas.sessions import SessionStore, token_hash, valid_token
from gas.settings import Settings
from gas.users import Plan, User, name_guard_key

POLICY = PasswordPolicy(min_length=12, lower=True, upper=True, digits=True, symbols=False)
GOOD = "Correct-Horse-42"


# ----------------------------------------------------------------------------- fakes

class FakeCognito:
    """A user pool: e-mail -> login. Raises the AuthErrors CognitoPool would."""

    def __init__(self, policy: PasswordPolicy = POLICY) -> None:
        self.policy = policy
        self.logins: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.calls: list[str] = []
        self._ids = itertools.count(1)
        self.fail_delete = False

    def password_policy(self) -> PasswordPolicy:
        return self.policy

    def _new(self, email: str, password: str, confirmed: bool) -> str:
        if email in self.logins:
            raise EmailTaken()
        if not self.policy.accepts(password):
            raise WeakPassword("cognito says too weak")
        sub = f"sub-{next(self._ids)}"
        self.logins[email] = {"sub": sub, "password": password, "confirmed": confirmed, "code": "123456"}
        return sub

    def sign_up(self, email: str, password: str) -> str:
        self.calls.append("sign_up")
        return self._new(email, password, confirmed=False)

    def confirm_sign_up(self, email: str, code: str) -> None:
        self.calls.append("confirm")
        login = self.logins.get(email)
        if login is None or login["code"] != code:
            raise BadCode()
        login["confirmed"] = True

    def resend_code(self, email: str) -> None:
        self.calls.append("resend")

    def admin_confirm(self, email: str) -> None:
        self.calls.append("admin_confirm")
        self.logins[email]["confirmed"] = True

    def admin_create(self, email: str, password: str) -> str:
        self.calls.append("admin_create")
        return self._new(email, password, confirmed=True)

    def admin_delete(self, email: str) -> None:
        self.calls.append("admin_delete")
        if self.fail_delete:
            raise AuthUnavailable("cognito is down")
        self.logins.pop(email, None)

    def password_auth(self, email: str, password: str) -> str:
        self.calls.append("password_auth")
        login = self.logins.get(email)
        if login is None or login["password"] != password:
            raise BadCredentials()
        if not login["confirmed"]:
            raise NotConfirmed()
        token = f"access-{login['sub']}"
        self.tokens[token] = login["sub"]
        return token

    def user_sub(self, access_token: str) -> str:
        self.calls.append("user_sub")
        return self.tokens[access_token]


class FakeUsers:
    """UserStore's add/get/by_name on a dict, with the same name-guard rule."""

    def __init__(self) -> None:
        self.items: dict[str, Any] = {}
        self.fail_add: Exception | None = None
        self.steal_name: str | None = None   # a name taken between by_name and add (a race)

    def add(self, name: str, email: str, plan: Plan | str = Plan.FREE, user_id: str | None = None) -> User | None:
        if self.fail_add is not None:
            raise self.fail_add
        user = User(user_id=user_id or "generated", name=name, email=email, plan=Plan(plan), created_at=now_iso())
        guard = name_guard_key(name)
        if guard in self.items or user.user_id in self.items or name == self.steal_name:
            return None
        self.items[user.user_id] = user
        self.items[guard] = user.user_id
        return user

    def get(self, user_id: str) -> User | None:
        value = self.items.get(user_id)
        return value if isinstance(value, User) else None

    def by_name(self, name: str) -> User | None:
        owner = self.items.get(name_guard_key(name))
        return self.items.get(owner) if owner else None


def make(auto_confirm: int = 1) -> tuple[Auth, FakeCognito, FakeUsers]:
    cognito, users = FakeCognito(), FakeUsers()
    auth = Auth(Settings(signup_auto_confirm=auto_confirm), cognito=cognito, users=users)  # type: ignore[arg-type]
    return auth, cognito, users


# ----------------------------------------------------------------------------- Auth

def test_sign_up_auto_confirmed_then_sign_in():
    auth, cognito, users = make(auto_confirm=1)
    assert users.by_name("alice") is None
    result = auth.sign_up(" alice ", "  Alice@Example.ORG ", GOOD)
    assert result.confirmed
    assert result.user.name == "alice" and result.user.email == "alice@example.org"
    assert result.user.user_id == cognito.logins["alice@example.org"]["sub"]
    assert cognito.calls == ["sign_up", "admin_confirm"]
    user = auth.sign_in("ALICE@example.org", GOOD)
    assert user == result.user


def test_sign_up_in_production_needs_the_code():
    auth, cognito, _ = make(auto_confirm=0)
    result = auth.sign_up("bob", "bob@example.org", GOOD)
    assert not result.confirmed and "admin_confirm" not in cognito.calls
    with pytest.raises(NotConfirmed, match="not confirmed"):
        auth.sign_in("bob@example.org", GOOD)
    for bad in ("000000", "", "  "):
        with pytest.raises(BadCode, match="wrong or expired confirmation code"):
            auth.confirm_sign_up("bob@example.org", bad)
    auth.confirm_sign_up("Bob@example.org", " 123456 ")
    assert auth.sign_in("bob@example.org", GOOD).user_id == result.user.user_id


def test_sign_in_never_says_whether_the_email_exists():
    auth, _, _ = make()
    auth.sign_up("carol", "carol@example.org", GOOD)
    messages = set()
    for email, password in (("carol@example.org", "Wrong-Horse-42"), ("nobody@example.org", GOOD),
                            ("", GOOD), ("carol@example.org", "")):
        with pytest.raises(BadCredentials) as err:
            auth.sign_in(email, password)
        messages.add(str(err.value))
    assert messages == {BAD_CREDENTIALS} == {"wrong e-mail or password"}


def test_refusals_before_anything_is_created():
    auth, cognito, users = make()
    auth.sign_up("dave", "dave@example.org", GOOD)
    cognito.calls.clear()
    with pytest.raises(WeakPassword, match="at least 12 characters, with a lower-case letter, an upper-case "
                                           "letter and a digit"):
        auth.sign_up("erin", "erin@example.org", "short")
    with pytest.raises(NameTaken, match="user name 'DAVE' is taken"):
        auth.sign_up("DAVE", "other@example.org", GOOD)
    with pytest.raises(InvalidInput, match="not an e-mail address"):
        auth.sign_up("erin", "not-an-address", GOOD)
    with pytest.raises(InvalidInput, match="name"):
        auth.sign_up("", "erin@example.org", GOOD)
    assert cognito.calls == []           # none of these reached Cognito
    with pytest.raises(EmailTaken, match="already exists"):
        auth.sign_up("erin", "DAVE@example.org", GOOD)
    assert users.by_name("erin") is None


def test_a_name_lost_to_a_race_deletes_the_new_login():
    auth, cognito, users = make()
    users.steal_name = "fay"
    with pytest.raises(NameTaken):
        auth.sign_up("fay", "fay@example.org", GOOD)
    assert cognito.calls == ["sign_up", "admin_delete"] and cognito.logins == {}


def test_a_failing_users_table_deletes_the_new_login_and_says_so():
    auth, cognito, users = make()
    users.fail_add = ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "TransactWriteItems")
    with pytest.raises(AuthUnavailable, match="could not be created; try again"):
        auth.sign_up("gus", "gus@example.org", GOOD)
    assert cognito.logins == {}
    cognito.fail_delete = True
    with pytest.raises(AuthUnavailable, match="could not be removed: ask the operator"):
        auth.sign_up("gus", "gus@example.org", GOOD)


def test_a_login_without_a_users_table_user_is_refused():
    auth, cognito, _ = make()
    cognito.admin_create("orphan@example.org", GOOD)
    with pytest.raises(AuthError, match="no GAS account belongs to this login"):
        auth.sign_in("orphan@example.org", GOOD)


def test_create_login_generates_a_password_once():
    auth, cognito, _ = make()
    user, password = auth.create_login("hal", "Hal@example.org", "premium")
    assert user.plan is Plan.PREMIUM and user.email == "hal@example.org"
    assert password and POLICY.accepts(password) and len(password) >= 20
    assert cognito.logins["hal@example.org"]["confirmed"]
    assert auth.sign_in("hal@example.org", password).user_id == user.user_id
    given, generated = auth.create_login("ivy", "ivy@example.org", password=GOOD)
    assert generated is None and auth.sign_in("ivy@example.org", GOOD) == given
    cognito.calls.clear()
    with pytest.raises(WeakPassword):
        auth.create_login("jo", "jo@example.org", password="weak")
    with pytest.raises(NameTaken, match="'HAL' is taken"):
        auth.create_login("HAL", "x@example.org")
    assert cognito.calls == []


# ----------------------------------------------------------------------------- password policy

def test_password_policy_describes_checks_and_generates():
    default = PasswordPolicy.from_cognito(None)
    assert default == PasswordPolicy(8, True, True, True, True)
    assert default.describe() == ("at least 8 characters, with a lower-case letter, an upper-case letter, "
                                  "a digit and a symbol")
    p = PasswordPolicy.from_cognito({"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                                     "RequireNumbers": True, "RequireSymbols": False})
    assert p == POLICY
    assert p.accepts("Abcdefghijk1") and not p.accepts("Abcdefghij1") and not p.accepts("abcdefghijk1")
    assert not p.accepts("ABCDEFGHIJK1") and not p.accepts("Abcdefghijkl")
    assert not default.accepts("Abcdefg1") and default.accepts("Abcdefg1!")
    assert PasswordPolicy(4, False, False, False, False).describe() == "at least 4 characters"
    for policy in (p, default, PasswordPolicy(40, True, True, True, True)):
        seen = {policy.generate() for _ in range(50)}
        assert len(seen) == 50 and all(policy.accepts(x) for x in seen)
        assert all(len(x) >= max(20, policy.min_length) for x in seen)


# ----------------------------------------------------------------------------- the boto3 adapter

def stubbed(**settings: Any) -> tuple[CognitoPool, Stubber]:
    client = boto3.client("cognito-idp", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    pool = CognitoPool(Settings(user_pool_id=settings.get("pool", "us-east-1_pool"),
                                user_pool_client_id=settings.get("client", "client1")), client=client)
    return pool, Stubber(client)


@pytest.mark.parametrize("code, message, expected, text", [
    ("NotAuthorizedException", "Incorrect username or password.", BadCredentials, BAD_CREDENTIALS),
    ("UserNotFoundException", "User does not exist.", BadCredentials, BAD_CREDENTIALS),
    ("NotAuthorizedException", "User is disabled.", BadCredentials, BAD_CREDENTIALS),
    ("NotAuthorizedException", "Password attempts exceeded", TooManyAttempts, "too many attempts"),
    ("TooManyRequestsException", "slow down", TooManyAttempts, "too many attempts"),
    ("UserNotConfirmedException", "User is not confirmed.", NotConfirmed, "not confirmed"),
    ("PasswordResetRequiredException", "reset", AuthError, "password reset"),
    ("InternalErrorException", "oops", AuthUnavailable, "InternalErrorException"),
])
def test_sign_in_errors_become_auth_errors(code, message, expected, text):
    pool, stub = stubbed()
    stub.add_client_error("initiate_auth", service_error_code=code, service_message=message)
    with stub, pytest.raises(expected) as err:
        pool.password_auth("a@example.org", "whatever")
    assert text in str(err.value)
    assert "a@example.org" not in str(err.value)


def test_sign_up_errors_and_the_policy_in_the_message():
    pool, stub = stubbed()
    stub.add_client_error("sign_up", service_error_code="UsernameExistsException", service_message="a@example.org")
    stub.add_client_error("sign_up", service_error_code="InvalidPasswordException", service_message="policy")
    stub.add_response("describe_user_pool", {"UserPool": {"Policies": {"PasswordPolicy": {
        "MinimumLength": 14, "RequireUppercase": False, "RequireLowercase": True, "RequireNumbers": True,
        "RequireSymbols": False}}}}, {"UserPoolId": "us-east-1_pool"})
    stub.add_client_error("confirm_sign_up", service_error_code="CodeMismatchException", service_message="no")
    stub.add_client_error("confirm_sign_up", service_error_code="ExpiredCodeException", service_message="old")
    with stub:
        with pytest.raises(EmailTaken):
            pool.sign_up("a@example.org", "x")
        with pytest.raises(WeakPassword, match="at least 14 characters, with a lower-case letter and a digit"):
            pool.sign_up("a@example.org", "x")
        for _ in range(2):
            with pytest.raises(BadCode):
                pool.confirm_sign_up("a@example.org", "1")
        stub.assert_no_pending_responses()


def test_a_challenge_is_refused_and_the_sub_comes_from_get_user():
    pool, stub = stubbed()
    stub.add_response("initiate_auth", {"ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": "s" * 20})
    stub.add_response("initiate_auth", {"AuthenticationResult": {"AccessToken": "tok"}})
    stub.add_response("get_user", {"Username": "u", "UserAttributes": [{"Name": "sub", "Value": "the-sub"}]},
                      {"AccessToken": "tok"})
    with stub:
        with pytest.raises(AuthError, match="NEW_PASSWORD_REQUIRED"):
            pool.password_auth("a@example.org", "p")
        assert pool.user_sub(pool.password_auth("a@example.org", "p")) == "the-sub"


def test_admin_create_undoes_the_login_when_the_password_is_refused():
    pool, stub = stubbed()
    stub.add_response("admin_create_user", {"User": {"Username": "u-1", "Attributes": [
        {"Name": "sub", "Value": "u-1"}]}})
    stub.add_client_error("admin_set_user_password", service_error_code="InvalidPasswordException",
                          service_message="policy")
    stub.add_response("admin_delete_user", {}, {"UserPoolId": "us-east-1_pool", "Username": "a@example.org"})
    stub.add_client_error("describe_user_pool", service_error_code="AccessDeniedException", service_message="no")
    with stub, pytest.raises(WeakPassword):
        pool.admin_create("a@example.org", "weak")
    stub.assert_no_pending_responses()


def test_an_unconfigured_pool_says_so():
    pool, _ = stubbed(pool="", client="")
    with pytest.raises(AuthUnavailable, match="GAS_USER_POOL_CLIENT_ID"):
        pool.password_auth("a@example.org", "p")
    with pytest.raises(AuthUnavailable, match="GAS_USER_POOL_ID"):
        pool.admin_confirm("a@example.org")


# ----------------------------------------------------------------------------- sessions

class FakeDynamo:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.calls = 0

    def put_item(self, TableName: str, Item: dict[str, Any], ConditionExpression: str) -> None:
        self.calls += 1
        key = Item["token_hash"]["S"]
        assert ConditionExpression == "attribute_not_exists(token_hash)" and key not in self.items
        self.items[key] = Item

    def get_item(self, TableName: str, Key: dict[str, Any], ConsistentRead: bool) -> dict[str, Any]:
        self.calls += 1
        assert ConsistentRead
        item = self.items.get(Key["token_hash"]["S"])
        return {"Item": item} if item else {}

    def delete_item(self, TableName: str, Key: dict[str, Any]) -> None:
        self.calls += 1
        self.items.pop(Key["token_hash"]["S"], None)


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def test_sessions_store_only_a_hash_and_end():
    ddb, clock = FakeDynamo(), Clock()
    store = SessionStore(Settings(session_ttl_s=600), client=ddb, clock=clock)
    token = store.create("user-1")
    assert valid_token(token) and len(token) == 43
    (item,) = ddb.items.values()
    assert item["token_hash"]["S"] == token_hash(token) and token not in str(item)
    assert item["user_id"]["S"] == "user-1" and int(item["expires_at"]["N"]) == int(clock.t) + 600
    assert item["created_at"]["S"].endswith("Z")
    assert store.lookup(token) == "user-1"
    clock.t += 599.5
    assert store.lookup(token) == "user-1"
    clock.t += 0.5
    assert store.lookup(token) is None                  # expired, although the item is still there
    assert ddb.items
    other = store.create("user-2")
    store.revoke(other)
    assert store.lookup(other) is None and token_hash(other) not in ddb.items
    assert store.create("user-1") != store.create("user-1")


def test_malformed_tokens_never_reach_the_table():
    ddb = FakeDynamo()
    store = SessionStore(Settings(), client=ddb)
    for bad in (None, "", "a" * 42, "a" * 44, "a" * 42 + "=", "a" * 42 + ";", "../" + "a" * 40, 12345,
                b"a" * 43, "a" * 42 + "\n"):
        assert store.lookup(bad) is None
        store.revoke(bad)
    assert ddb.calls == 0
    with pytest.raises(ValueError):
        store.create("no/slashes")


def test_an_item_with_a_bad_user_id_is_nobody():
    ddb = FakeDynamo()
    store = SessionStore(Settings(), client=ddb)
    token = store.create("user-1")
    ddb.items[token_hash(token)]["user_id"] = {"S": "name#alice"}   # a guard-like id: never a user
    assert store.lookup(token) is None
