"""Sign-in, sign-up, confirmation and sign-out through the real entry point (ui/app.py), run by
streamlit's AppTest against in-process moto with the template's user pool and sessions table.

AppTest cannot send cookies (``st.context.cookies`` is empty there), so "the browser sent the
``gas_session`` cookie" is simulated by replacing `ui.session.cookie_token`; what the page asks
the browser to do with the cookie is read from the cookie component's data. That the JavaScript
really writes and removes the cookie needs a browser: tests/e2e/test_signin_browser.py.

AppTest resets Streamlit's "this app uses a v1 pages/ folder" flag before every run, and ui/ has a
``pages/`` folder, so after the first run it would execute page files directly, without
ui/app.py. On a server the first ``st.navigation`` call turns that flag off for good; the
`as_on_a_server` fixture does the same here, so every run goes through ui/app.py.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from gas import aws
from gas.auth import Auth
from gas.sessions import SessionStore
from gas.settings import Settings
from gas.users import UserStore
from ui import markdown

pytest_plugins = ["tests.integration.aws_fixtures"]

APP = Path(__file__).resolve().parents[2] / "ui" / "app.py"
PASSWORD = "Correct-Horse-42"
SIGN_IN_TITLE = "Genomics Annotation Service"
JOBS_TITLE = "Your jobs"


@pytest.fixture
def as_on_a_server(monkeypatch):
    from streamlit.runtime.pages_manager import PagesManager
    init = PagesManager.__init__

    def no_v1_pages_folder(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", no_v1_pages_folder)


def _pool_env(gas_aws: Any, monkeypatch: pytest.MonkeyPatch, auto_confirm: int) -> Settings:
    from ui import session
    idp = aws.client("cognito-idp", region=gas_aws.settings.region)
    (pool,) = idp.list_user_pools(MaxResults=10)["UserPools"]
    (app,) = idp.list_user_pool_clients(UserPoolId=pool["Id"])["UserPoolClients"]
    monkeypatch.setenv("GAS_USER_POOL_ID", pool["Id"])
    monkeypatch.setenv("GAS_USER_POOL_CLIENT_ID", app["ClientId"])
    monkeypatch.setenv("GAS_SIGNUP_AUTO_CONFIRM", str(auto_confirm))
    session.services.clear()
    return Settings.from_env()


@pytest.fixture
def settings(gas_aws, monkeypatch, as_on_a_server):
    from ui import session
    yield _pool_env(gas_aws, monkeypatch, auto_confirm=1)
    session.services.clear()


@pytest.fixture
def browser_cookie(monkeypatch):
    """`browser_cookie["value"] = token`: what the browser sends as gas_session on connect."""
    from ui import session
    sent: dict[str, str | None] = {"value": None}
    monkeypatch.setattr(session, "cookie_token", lambda: sent["value"])
    return sent


def start() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=30)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def cookie(at: AppTest) -> dict[str, Any]:
    """What this run asks the browser to do with the gas_session cookie."""
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


def sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="signin_email").input(email)
    at.text_input(key="signin_password").input(password)
    at.button(key="signin_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sessions_stored(settings: Settings) -> int:
    return len(aws.dynamodb(settings.region).scan(TableName=settings.sessions_table)["Items"])


# ----------------------------------------------------------------------------- sign-in

def test_correct_password_signs_in_and_shows_the_product_pages(settings):
    alice, _ = Auth(settings).create_login("alice", "alice@example.org", password=PASSWORD)
    at = start()
    assert titles(at) == [SIGN_IN_TITLE]
    assert [t.label for t in at.tabs] == ["Sign in", "Create an account"]
    assert cookie(at)["token"] is None

    sign_in(at, "Alice@Example.org", PASSWORD)
    assert titles(at) == [JOBS_TITLE]            # the signed-in navigation's default page
    assert not errors(at) and at.session_state["user_id"] == alice.user_id
    token = at.session_state["gas_session_token"]
    assert SessionStore(settings).lookup(token) == alice.user_id
    assert cookie(at) == {"name": "gas_session", "token": token, "max_age": settings.session_ttl_s, "dead": []}
    at.run()                                     # and it stays signed in
    assert titles(at) == [JOBS_TITLE]


def test_wrong_password_or_unknown_email_shows_one_error(settings):
    Auth(settings).create_login("bob", "bob@example.org", password=PASSWORD)
    at = start()
    for email, password in (("bob@example.org", "Wrong-Horse-42"), ("nobody@example.org", PASSWORD)):
        sign_in(at, email, password)
        assert errors(at) == ["Wrong e-mail or password."]
        assert titles(at) == [SIGN_IN_TITLE] and "user_id" not in at.session_state
    assert sessions_stored(settings) == 0 and cookie(at)["token"] is None


# ----------------------------------------------------------------------------- sign-up

def fill_sign_up(at: AppTest, name: str, email: str, password: str, again: str | None = None) -> AppTest:
    at.text_input(key="signup_name").input(name)
    at.text_input(key="signup_email").input(email)
    at.text_input(key="signup_password").input(password)
    at.text_input(key="signup_password2").input(password if again is None else again)
    at.button(key="signup_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sign_up_on_the_embedded_stack_signs_in_at_once(settings):
    at = start()
    hint = at.text_input(key="signup_password").help
    assert hint == "At least 12 characters, with a lower-case letter, an upper-case letter and a digit."
    fill_sign_up(at, "carol", "carol@example.org", PASSWORD)
    assert titles(at) == [JOBS_TITLE] and not errors(at)
    carol = UserStore(settings).by_name("carol")
    assert carol is not None and at.session_state["user_id"] == carol.user_id
    idp = aws.client("cognito-idp", region=settings.region)
    login = idp.admin_get_user(UserPoolId=settings.user_pool_id, Username="carol@example.org")
    assert {a["Name"]: a["Value"] for a in login["UserAttributes"]}["sub"] == carol.user_id


def test_sign_up_refusals_are_words_not_tracebacks(settings):
    Auth(settings).create_login("dave", "dave@example.org", password=PASSWORD)
    at = start()
    cases = [
        (("erin", "erin@example.org", PASSWORD, PASSWORD + "!"), "The two passwords differ."),
        (("erin", "erin@example.org", "short"), ("The password is too weak: it needs at least 12 characters, "
                                                 "with a lower-case letter, an upper-case letter and a digit.")),
        (("Dave", "erin@example.org", PASSWORD), "The name “Dave” is taken: choose another one."),
        (("erin", "dave@example.org", PASSWORD),
         "An account with this e-mail address already exists: sign in instead."),
        (("erin", "not-an-address", PASSWORD), "That is not an e-mail address."),
        # a typed name is shown literally, not as markdown
        (("**dave**", "erin@example.org", PASSWORD), "The name “\\*\\*dave\\*\\*” is taken: choose another one."),
    ]
    Auth(settings).create_login("**dave**", "bold@example.org", password=PASSWORD)
    for args, message in cases:
        fill_sign_up(at, *args)
        assert errors(at) == [message], args
        assert titles(at) == [SIGN_IN_TITLE]
    assert UserStore(settings).by_name("erin") is None
    idp = aws.client("cognito-idp", region=settings.region)
    assert len(idp.list_users(UserPoolId=settings.user_pool_id)["Users"]) == 2


def test_production_sign_up_asks_for_the_emailed_code(gas_aws, monkeypatch, as_on_a_server):
    from ui import session
    settings = _pool_env(gas_aws, monkeypatch, auto_confirm=0)
    try:
        at = start()
        fill_sign_up(at, "fay", "fay@example.org", PASSWORD)
        assert titles(at) == [SIGN_IN_TITLE] and [s.value for s in at.subheader] == ["Confirm your account"]
        assert any("e-mailed a confirmation code" in m.value and markdown.escape("fay@example.org") in m.value
               for m in at.markdown)
        at.button(key="confirm_back").click().run()          # leave without the code...
        sign_in(at, "fay@example.org", PASSWORD)              # ...signing in brings the code step back
        assert [s.value for s in at.subheader] == ["Confirm your account"] and "user_id" not in at.session_state
        at.text_input(key="confirm_code").input("123456")     # moto accepts any code; Cognito checks it
        at.button(key="confirm_submit").click().run()
        assert [s.value for s in at.success] == ["Your account is confirmed: sign in with your e-mail and password."]
        assert at.text_input(key="signin_email").value == "fay@example.org"
        sign_in(at, "fay@example.org", PASSWORD)
        assert titles(at) == [JOBS_TITLE]
        assert at.session_state["user_id"] == UserStore(settings).by_name("fay").user_id
    finally:
        session.services.clear()


# ----------------------------------------------------------------------------- the cookie

def test_a_reload_or_a_new_tab_is_signed_in_by_the_cookie(settings, browser_cookie):
    gus, _ = Auth(settings).create_login("gus", "gus@example.org", password=PASSWORD)
    token = SessionStore(settings).create(gus.user_id)
    browser_cookie["value"] = token
    at = start()                                    # a new tab: nothing in its session state
    assert titles(at) == [JOBS_TITLE] and at.session_state["user_id"] == gus.user_id
    assert cookie(at)["token"] == token             # the browser already has it: nothing to write


@pytest.mark.parametrize("case", ["revoked", "expired", "unknown", "malformed"])
def test_a_dead_cookie_signs_nobody_in_and_is_removed(settings, browser_cookie, case):
    hal, _ = Auth(settings).create_login("hal", "hal@example.org", password=PASSWORD)
    store = SessionStore(settings)
    if case == "expired":
        token = SessionStore(settings, ttl_s=300, clock=lambda: 1_000_000_000.0).create(hal.user_id)
    else:
        token = store.create(hal.user_id)
    if case == "revoked":
        store.revoke(token)
    elif case == "unknown":
        token = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif case == "malformed":
        token = token + "; Path=/evil"
    browser_cookie["value"] = token
    at = start()
    assert titles(at) == [SIGN_IN_TITLE] and "user_id" not in at.session_state
    asked = cookie(at)
    assert asked["token"] is None
    assert asked["dead"] == ([] if case == "malformed" else [token])   # only well-formed tokens reach the page


def test_sign_out_revokes_the_session_in_every_tab(settings, browser_cookie):
    ivy, _ = Auth(settings).create_login("ivy", "ivy@example.org", password=PASSWORD)
    token = SessionStore(settings).create(ivy.user_id)
    browser_cookie["value"] = token
    tab1, tab2 = start(), start()
    assert titles(tab1) == titles(tab2) == [JOBS_TITLE]

    tab1.switch_page("views/signout.py")
    tab1.run()
    assert not tab1.exception
    assert titles(tab1) == [SIGN_IN_TITLE] and [s.value for s in tab1.success] == ["You are signed out."]
    assert "user_id" not in tab1.session_state and "gas_session_token" not in tab1.session_state
    assert SessionStore(settings).lookup(token) is None and sessions_stored(settings) == 0
    assert cookie(tab1)["token"] is None and cookie(tab1)["dead"] == [token]

    tab2.run()                                      # the other tab's next run finds the session gone
    assert titles(tab2) == [SIGN_IN_TITLE] and "user_id" not in tab2.session_state
    tab1.run()                                      # the stale cookie is not adopted again
    assert titles(tab1) == [SIGN_IN_TITLE]
