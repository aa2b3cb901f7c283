"""Sign-in in a real browser on `gas up`: what AppTest cannot show (it sends no cookies and runs
no JavaScript).

`gas users add` makes a login and prints its generated password; Chromium signs in with it; the
``gas_session`` cookie is SameSite=Strict, not HttpOnly (written by JavaScript), lives
`session_ttl_s`; a reload and a new tab are still signed in; after a stop and a start of
`gas up` (state persisted: the login, the users table, the sessions table) a reload is still
signed in; sign-out removes the cookie and revokes the session for the other tab too. A second
user signs up in the browser. Screenshots go to build/e2e-screenshots/signin-*.png.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tests.e2e.browser import chromium, screenshot, wait_idle
from tests.e2e.stackproc import free_port, gas, start, stop

SIGNED_IN = "Your jobs"


def session_cookie(context) -> dict | None:
    return next((c for c in context.cookies() if c["name"] == "gas_session"), None)


def wait_for_cookie(context, present: bool, timeout_s: float = 10) -> dict | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        c = session_cookie(context)
        if (c is not None) == present:
            return c
        time.sleep(0.1)
    raise AssertionError(f"gas_session cookie {'never set' if present else 'never removed'}")


def test_sign_in_survives_reload_new_tab_and_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "GAS_DATA_DIR": str(data)}
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = start(env, tmp_path / "up1.log", workers=0, ui_port=port)
    try:
        made = json.loads(gas(env, "users", "add", "alice", "--email", "alice@example.org", "--json").stdout)
        password = made["password"]
        ttl = int(json.loads((data / "stack.json").read_text())["env"]["GAS_SESSION_TTL_S"])
        with chromium() as browser:
            context = browser.new_context()
            page = context.new_page()
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for()
            page.get_by_label("E-mail").first.fill("alice@example.org")
            page.get_by_label("Password").first.fill("wrong-" + password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text("Wrong e-mail or password.").wait_for()
            assert session_cookie(context) is None
            page.get_by_label("Password").first.fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_text(SIGNED_IN).wait_for()
            cookie = wait_for_cookie(context, present=True)
            assert cookie["sameSite"] == "Strict" and cookie["path"] == "/" and not cookie["secure"]
            assert not cookie["httpOnly"]                      # written by JavaScript (docs/auth.md)
            assert ttl - 60 <= cookie["expires"] - time.time() <= ttl
            screenshot(page, "signin-jobs")

            page.reload()
            page.get_by_text(SIGNED_IN).wait_for()
            other = context.new_page()
            other.goto(url)
            other.get_by_text(SIGNED_IN).wait_for()
            wait_idle(other)
            assert session_cookie(context)["value"] == cookie["value"]   # the new tab wrote nothing
            state = context.storage_state()
            context.close()
    finally:
        stop(proc)

    proc = start(env, tmp_path / "up2.log", workers=0, ui_port=port)   # everything persisted
    try:
        assert "1 logins" in (tmp_path / "up2.log").read_text()
        with chromium() as browser:
            context = browser.new_context(storage_state=state)
            page = context.new_page()
            page.goto(url)
            page.get_by_text(SIGNED_IN).wait_for()
            other = context.new_page()
            other.goto(url)
            other.get_by_text(SIGNED_IN).wait_for()

            page.get_by_role("link", name="Sign out").click()
            page.get_by_text("You are signed out.").wait_for()
            wait_for_cookie(context, present=False)
            screenshot(page, "signin-signed-out")
            other.reload()                                     # revoked server-side: the other tab too
            other.get_by_role("button", name="Sign in").wait_for()

            # a new user signs up in the browser (confirmed at once on the embedded stack)
            page.get_by_role("tab", name="Create an account").click()
            form = page.locator('[data-testid="stForm"]').filter(has_text="Create account")
            form.get_by_role("textbox", name="Name", exact=True).fill("bob")
            form.get_by_role("textbox", name="E-mail", exact=True).fill("bob@example.org")
            form.get_by_role("textbox", name="Password", exact=True).fill("Correct-Horse-42")
            form.get_by_role("textbox", name="Password again", exact=True).fill("Correct-Horse-42")
            form.get_by_role("button", name="Create account").click()
            page.get_by_text(SIGNED_IN).wait_for()
            wait_for_cookie(context, present=True)
            context.close()
        listed = gas(env, "status", "--json")
        assert listed.returncode == 0
    finally:
        stop(proc)
