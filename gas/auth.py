"""Sign-up and sign-in against the Cognito user pool, and the users table behind it (docs/auth.md).

    auth = Auth(settings)
    result = auth.sign_up("alice", "alice@example.org", "A-long-Passw0rd")   # SignUp(user, confirmed)
    auth.confirm_sign_up("alice@example.org", "123456")                     # production: the e-mailed code
    user = auth.sign_in("alice@example.org", "A-long-Passw0rd")             # gas.users.User
    user, password = auth.create_login("bob", "bob@example.org")            # `gas users add`

The user pool is the template's ``UserPool``/``UserPoolClient``: the e-mail is the username,
``USER_PASSWORD_AUTH`` is allowed, the client has no secret. A GAS user id is the Cognito ``sub``
(`UserStore.add(..., user_id=sub)`); names stay unique through the users table. Cognito's tokens
are used once, to learn the ``sub`` (``GetUser``), and then dropped: the browser gets an opaque
server-side session instead (`gas.sessions`).

Every refusal is an `AuthError` whose message is one line a person can act on. Sign-in never
says whether an e-mail address exists ("wrong e-mail or password"). E-mail addresses are
compared lower-cased (Cognito usernames are case-sensitive unless the pool says otherwise).

Cognito sits behind `CognitoPool` (a thin boto3 adapter that turns Cognito's error codes into
`AuthError`s), so unit tests pass a fake with the same methods.
"""
from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import ValidationError

from gas import aws
from gas.jobs import now_iso
from gas.settings import Settings
from gas.users import Plan, User, UserStore

log = logging.getLogger("gas.auth")

BAD_CREDENTIALS = "wrong e-mail or password"
# Cognito's special characters (a symbol counts only if it is one of these)
COGNITO_SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- "
GENERATED_SYMBOLS = "-_.+=%@"   # safe in a shell and in a URL
GENERATED_LENGTH = 20


# ----------------------------------------------------------------------------- errors

class AuthError(RuntimeError):
    """A refusal with a one-line message for the person signing in."""


class BadCredentials(AuthError):
    def __init__(self, message: str = BAD_CREDENTIALS) -> None:
        super().__init__(message)


class NotConfirmed(AuthError):
    def __init__(self, email: str = "") -> None:
        super().__init__("this account is not confirmed yet: enter the code we e-mailed to you")
        self.email = email


class WeakPassword(AuthError):
    pass


class EmailTaken(AuthError):
    def __init__(self) -> None:
        super().__init__("an account with this e-mail address already exists: sign in instead")


class NameTaken(AuthError):
    def __init__(self, name: str) -> None:
        super().__init__(f"user name {name!r} is taken")
        self.name = name


class InvalidInput(AuthError):
    pass


class BadCode(AuthError):
    def __init__(self) -> None:
        super().__init__("wrong or expired confirmation code")


class TooManyAttempts(AuthError):
    def __init__(self) -> None:
        super().__init__("too many attempts: wait a few minutes and try again")


class AuthUnavailable(AuthError):
    pass


# ----------------------------------------------------------------------------- password policy

@dataclass(frozen=True)
class PasswordPolicy:
    """The user pool's password policy (Cognito's defaults when the pool sets none)."""

    min_length: int = 8
    lower: bool = True
    upper: bool = True
    digits: bool = True
    symbols: bool = True

    @classmethod
    def from_cognito(cls, policy: dict[str, Any] | None) -> PasswordPolicy:
        p = policy or {}
        return cls(min_length=int(p.get("MinimumLength", 8)), lower=bool(p.get("RequireLowercase", True)),
                   upper=bool(p.get("RequireUppercase", True)), digits=bool(p.get("RequireNumbers", True)),
                   symbols=bool(p.get("RequireSymbols", True)))

    def _needs(self) -> list[str]:
        return [what for flag, what in ((self.lower, "a lower-case letter"), (self.upper, "an upper-case letter"),
                                        (self.digits, "a digit"), (self.symbols, "a symbol")) if flag]

    def describe(self) -> str:
        """'at least 12 characters, with a lower-case letter, an upper-case letter and a digit'"""
        needs = self._needs()
        text = f"at least {self.min_length} characters"
        if needs:
            text += ", with " + (", ".join(needs[:-1]) + " and " + needs[-1] if len(needs) > 1 else needs[0])
        return text

    def accepts(self, password: str) -> bool:
        return (len(password) >= self.min_length
                and (not self.lower or any(c.islower() for c in password))
                and (not self.upper or any(c.isupper() for c in password))
                and (not self.digits or any(c.isdigit() for c in password))
                and (not self.symbols or any(c in COGNITO_SYMBOLS for c in password)))

    def check(self, password: str) -> None:
        if not self.accepts(password):
            raise WeakPassword(f"the password is too weak: it needs {self.describe()}")

    def generate(self) -> str:
        """A random password this policy accepts (letters and digits, a symbol only if required)."""
        pools = [string.ascii_lowercase, string.ascii_uppercase, string.digits]
        if self.symbols:
            pools.append(GENERATED_SYMBOLS)
        alphabet = "".join(pools)
        length = max(GENERATED_LENGTH, self.min_length)
        while True:
            candidate = "".join(secrets.choice(alphabet) for _ in range(length))
            if self.accepts(candidate):
                return candidate


# ----------------------------------------------------------------------------- Cognito adapter

class Cognito(Protocol):
    """What `Auth` needs from a user pool (`CognitoPool`, or a fake in unit tests)."""

    def password_policy(self) -> PasswordPolicy: ...
    def sign_up(self, email: str, password: str) -> str: ...
    def confirm_sign_up(self, email: str, code: str) -> None: ...
    def resend_code(self, email: str) -> None: ...
    def admin_confirm(self, email: str) -> None: ...
    def admin_create(self, email: str, password: str) -> str: ...
    def admin_delete(self, email: str) -> None: ...
    def password_auth(self, email: str, password: str) -> str: ...
    def user_sub(self, access_token: str) -> str: ...


_THROTTLED = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}


class CognitoPool:
    """The template's user pool through boto3. Methods raise `AuthError`s, never ClientErrors."""

    def __init__(self, settings: Settings | None = None, *, client: Any = None) -> None:
        self.settings = settings or Settings.from_env()
        self._client = client
        self._policy: PasswordPolicy | None = None

    @property
    def idp(self) -> Any:
        return self._client or aws.client("cognito-idp", region=self.settings.region)

    @property
    def pool_id(self) -> str:
        if not self.settings.user_pool_id:
            raise AuthUnavailable("sign-in is not configured (GAS_USER_POOL_ID is not set)")
        return self.settings.user_pool_id

    @property
    def client_id(self) -> str:
        if not self.settings.user_pool_client_id:
            raise AuthUnavailable("sign-in is not configured (GAS_USER_POOL_CLIENT_ID is not set)")
        return self.settings.user_pool_client_id

    def _fail(self, exc: ClientError, operation: str) -> AuthError:
        """Cognito's error code -> the AuthError to raise (the message never names the address)."""
        code = aws.error_code(exc) or ""
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code in _THROTTLED or (code == "NotAuthorizedException" and "attempts exceeded" in message.lower()):
            return TooManyAttempts()
        if code == "UserNotConfirmedException":
            return NotConfirmed()
        if code in ("UsernameExistsException", "AliasExistsException"):
            return EmailTaken()
        if code == "InvalidPasswordException":
            return WeakPassword(f"the password is too weak: it needs {self._describe_policy()}")
        if code in ("CodeMismatchException", "ExpiredCodeException"):
            return BadCode()
        if code == "PasswordResetRequiredException":
            return AuthError("this account needs a password reset: ask the operator")
        if code in ("NotAuthorizedException", "UserNotFoundException"):
            return BadCode() if operation in ("confirm", "resend") else BadCredentials()
        if code == "InvalidParameterException":
            if operation == "sign_in":
                return BadCredentials()
            return InvalidInput("the e-mail address or password is not accepted")
        if code == "CodeDeliveryFailureException":
            return AuthUnavailable("the confirmation code could not be e-mailed; try again later")
        if code == "ResourceNotFoundException":
            return AuthUnavailable("sign-in is not set up (the user pool or its client does not exist)")
        log.warning("cognito %s failed: %s %s", operation, code, message)
        return AuthUnavailable(f"sign-in failed ({code or 'unknown error'}); try again later")

    def _describe_policy(self) -> str:
        try:
            return self.password_policy().describe()
        except AuthError:
            return "more characters of more kinds"

    def password_policy(self) -> PasswordPolicy:
        if self._policy is None:
            try:
                pool = self.idp.describe_user_pool(UserPoolId=self.pool_id)["UserPool"]
            except ClientError as exc:
                raise self._fail(exc, "describe") from exc
            self._policy = PasswordPolicy.from_cognito((pool.get("Policies") or {}).get("PasswordPolicy"))
        return self._policy

    def sign_up(self, email: str, password: str) -> str:
        try:
            return self.idp.sign_up(ClientId=self.client_id, Username=email, Password=password,
                                    UserAttributes=[{"Name": "email", "Value": email}])["UserSub"]
        except ClientError as exc:
            raise self._fail(exc, "sign_up") from exc

    def confirm_sign_up(self, email: str, code: str) -> None:
        try:
            self.idp.confirm_sign_up(ClientId=self.client_id, Username=email, ConfirmationCode=code)
        except ClientError as exc:
            raise self._fail(exc, "confirm") from exc

    def resend_code(self, email: str) -> None:
        try:
            self.idp.resend_confirmation_code(ClientId=self.client_id, Username=email)
        except ClientError as exc:
            raise self._fail(exc, "resend") from exc

    def admin_confirm(self, email: str) -> None:
        try:
            self.idp.admin_confirm_sign_up(UserPoolId=self.pool_id, Username=email)
        except ClientError as exc:
            raise self._fail(exc, "admin_confirm") from exc

    def admin_create(self, email: str, password: str) -> str:
        """A confirmed login with a permanent password, no e-mail sent; returns its sub."""
        try:
            user = self.idp.admin_create_user(
                UserPoolId=self.pool_id, Username=email, MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}])["User"]
        except ClientError as exc:
            raise self._fail(exc, "admin_create") from exc
        attrs = {a["Name"]: a["Value"] for a in user.get("Attributes", [])}
        try:
            self.idp.admin_set_user_password(UserPoolId=self.pool_id, Username=email, Password=password,
                                             Permanent=True)
        except ClientError as exc:
            self.admin_delete(email)
            raise self._fail(exc, "admin_create") from exc
        return attrs.get("sub") or user["Username"]

    def admin_delete(self, email: str) -> None:
        try:
            self.idp.admin_delete_user(UserPoolId=self.pool_id, Username=email)
        except ClientError as exc:
            if aws.error_code(exc) != "UserNotFoundException":
                raise self._fail(exc, "admin_delete") from exc

    def password_auth(self, email: str, password: str) -> str:
        """USER_PASSWORD_AUTH; returns the access token."""
        try:
            resp = self.idp.initiate_auth(ClientId=self.client_id, AuthFlow="USER_PASSWORD_AUTH",
                                          AuthParameters={"USERNAME": email, "PASSWORD": password})
        except ClientError as exc:
            raise self._fail(exc, "sign_in") from exc
        if "AuthenticationResult" not in resp:  # a challenge (NEW_PASSWORD_REQUIRED, MFA...)
            raise AuthError(f"this account needs a step the web app does not offer "
                            f"({resp.get('ChallengeName', 'challenge')}): ask the operator")
        return resp["AuthenticationResult"]["AccessToken"]

    def user_sub(self, access_token: str) -> str:
        try:
            resp = self.idp.get_user(AccessToken=access_token)
        except ClientError as exc:
            raise self._fail(exc, "sign_in") from exc
        attrs = {a["Name"]: a["Value"] for a in resp.get("UserAttributes", [])}
        return attrs.get("sub") or resp["Username"]


# ----------------------------------------------------------------------------- the service

@dataclass(frozen=True)
class SignUp:
    user: User
    confirmed: bool   # False: Cognito e-mailed a code; call confirm_sign_up with it


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def validate(name: str, email: str) -> None:
    """The users table's rules for a name and an e-mail address, as InvalidInput."""
    try:
        User(user_id="probe", name=name, email=email, created_at=now_iso())
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e.get("loc")}
        if "name" in fields:
            raise InvalidInput("a name needs 1 to 128 printable characters, without spaces around it") from exc
        raise InvalidInput("that is not an e-mail address") from exc


class Auth:
    """Sign-up, confirmation and sign-in: Cognito for passwords, the users table for the rest."""

    def __init__(self, settings: Settings | None = None, *, cognito: Cognito | None = None,
                 users: UserStore | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.cognito: Cognito = cognito or CognitoPool(self.settings)
        self.users = users or UserStore(self.settings)

    def password_policy(self) -> PasswordPolicy:
        return self.cognito.password_policy()

    def _check_password(self, password: str) -> None:
        try:
            policy = self.cognito.password_policy()
        except AuthUnavailable:  # no DescribeUserPool permission: Cognito still enforces it
            return
        policy.check(password)

    def _add_user(self, name: str, email: str, plan: Plan | str, sub: str) -> User:
        """The users-table half of an account; the Cognito login is deleted again if it fails."""
        try:
            user = self.users.add(name, email, plan, user_id=sub)
        except Exception as exc:
            self._undo(email)
            log.exception("users table add failed for a new login")
            raise AuthUnavailable("the account could not be created; try again") from exc
        if user is None:
            self._undo(email)
            raise NameTaken(name)
        return user

    def _undo(self, email: str) -> None:
        try:
            self.cognito.admin_delete(email)
        except Exception as exc:
            log.exception("could not delete the half-made login %s", email)
            raise AuthUnavailable("the account could not be created, and its login could not be removed: "
                                  "ask the operator") from exc

    def sign_up(self, name: str, email: str, password: str) -> SignUp:
        """Create the Cognito login and the GAS user (id = the login's sub).

        With `Settings.signup_auto_confirm` (the embedded stack: moto sends no mail) the login is
        confirmed at once; otherwise Cognito e-mails a code for `confirm_sign_up`."""
        email = normalise_email(email)
        name = (name or "").strip()
        validate(name, email)
        self._check_password(password or "")
        if self.users.by_name(name) is not None:   # the common case, before anything is created
            raise NameTaken(name)
        sub = self.cognito.sign_up(email, password)
        user = self._add_user(name, email, Plan.FREE, sub)
        confirmed = False
        if self.settings.signup_auto_confirm:
            self.cognito.admin_confirm(email)
            confirmed = True
        return SignUp(user=user, confirmed=confirmed)

    def confirm_sign_up(self, email: str, code: str) -> None:
        code = (code or "").strip()
        if not code:
            raise BadCode()
        self.cognito.confirm_sign_up(normalise_email(email), code)

    def resend_code(self, email: str) -> None:
        self.cognito.resend_code(normalise_email(email))

    def sign_in(self, email: str, password: str) -> User:
        """The GAS user behind these credentials; BadCredentials whatever was wrong."""
        email = normalise_email(email)
        if not email or not password:
            raise BadCredentials()
        access_token = self.cognito.password_auth(email, password)
        sub = self.cognito.user_sub(access_token)
        user = self.users.get(sub)
        if user is None:
            log.warning("login %s has no users-table user", sub)
            raise AuthError("no GAS account belongs to this login: ask the operator")
        return user

    def create_login(self, name: str, email: str, plan: Plan | str = Plan.FREE,
                     password: str | None = None) -> tuple[User, str | None]:
        """An operator-made account (`gas users add`): a confirmed login with a permanent password
        and no e-mail, and the GAS user. Returns the user and the generated password (None if
        `password` was given)."""
        email = normalise_email(email)
        name = (name or "").strip()
        validate(name, email)
        plan = Plan(plan)
        generated = None
        if password is None:
            password = generated = self.cognito.password_policy().generate()
        else:
            self._check_password(password)
        if self.users.by_name(name) is not None:
            raise NameTaken(name)
        sub = self.cognito.admin_create(email, password)
        return self._add_user(name, email, plan, sub), generated
