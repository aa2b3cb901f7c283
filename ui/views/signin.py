"""Sign in, or create an account (and confirm it with the e-mailed code in production).

All the work is `gas.auth.Auth` (Cognito + the users table) and `ui.session.sign_in` (a
server-side session, whose token the cookie component writes on the next run). Refusals are
shown in words (`AuthError` messages); anything unexpected is logged and shown as one sentence,
never as a traceback. After a sign-in the app reruns, and ui/app.py's navigation then holds the
product's pages instead of this one.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import streamlit as st

from gas.auth import AuthError, NameTaken, NotConfirmed, normalise_email
from ui import markdown, session

log = logging.getLogger("gas.ui.signin")

CONFIRM = "gas_signin_confirm_email"   # an account waiting for its e-mailed code
NOTICE = session.NOTICE_KEY            # one message for the next run (signed out, confirmed...)
UNAVAILABLE = "Sign-in is unavailable right now; try again in a minute."

services = session.services()
auth = services.auth


def sentence(exc: AuthError) -> str:
    if isinstance(exc, NameTaken):
        return f"The name “{markdown.escape(exc.name)}” is taken: choose another one."
    text = str(exc)
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def attempt(fn: Callable[..., Any], *args: Any) -> tuple[Any, AuthError | None]:
    """Run an auth call; (result, None), or (None, the refusal) after showing it."""
    try:
        return fn(*args), None
    except NotConfirmed as exc:      # the caller moves on to the code step
        return None, exc
    except AuthError as exc:
        st.error(sentence(exc))
        return None, exc
    except Exception:  # anything else: logged, and one sentence for the person signing in
        log.exception("%s failed", getattr(fn, "__name__", "auth call"))
        st.error(UNAVAILABLE)
        return None, AuthError(UNAVAILABLE)


def password_hint() -> str | None:
    try:
        return "At least " + auth.password_policy().describe().removeprefix("at least ") + "."
    except Exception:  # noqa: BLE001 - only a hint
        return None


def start_session(user: Any) -> None:
    try:
        session.sign_in(user)
    except Exception:  # the sessions table: logged, one sentence shown
        log.exception("could not create a session")
        st.error(UNAVAILABLE)
        return
    st.rerun()


def confirm_step(email: str) -> None:
    st.subheader("Confirm your account")
    st.markdown(f"We e-mailed a confirmation code to **{markdown.escape(email)}**. Enter it here.")
    with st.form("gas_confirm"):
        code = st.text_input("Confirmation code", key="confirm_code", autocomplete="one-time-code",
                             max_chars=16)
        confirmed = st.form_submit_button("Confirm", type="primary", key="confirm_submit")
    resend, back = st.columns(2)
    if confirmed:
        _, error = attempt(auth.confirm_sign_up, email, code)
        if error is None:
            st.session_state.pop(CONFIRM, None)
            st.session_state[NOTICE] = "Your account is confirmed: sign in with your e-mail and password."
            st.session_state["signin_email"] = email
            st.rerun()
    if resend.button("Send a new code", key="confirm_resend"):
        _, error = attempt(auth.resend_code, email)
        if error is None:
            st.success("A new code is on its way.")
    if back.button("Back to sign-in", key="confirm_back"):
        st.session_state.pop(CONFIRM, None)
        st.rerun()


def sign_in_tab() -> None:
    with st.form("gas_signin"):
        email = st.text_input("E-mail", key="signin_email", autocomplete="username")
        password = st.text_input("Password", type="password", key="signin_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary", key="signin_submit")
    if not submitted:
        return
    user, error = attempt(auth.sign_in, email, password)
    if isinstance(error, NotConfirmed):
        st.session_state[CONFIRM] = normalise_email(email)
        st.rerun()
    if user is not None:
        start_session(user)


def sign_up_tab() -> None:
    hint = password_hint()
    with st.form("gas_signup"):
        name = st.text_input("Name", key="signup_name", max_chars=128, autocomplete="nickname",
                             help="How GAS addresses you; unique among users.")
        email = st.text_input("E-mail", key="signup_email", autocomplete="email")
        password = st.text_input("Password", type="password", key="signup_password",
                                 autocomplete="new-password", help=hint)
        again = st.text_input("Password again", type="password", key="signup_password2",
                              autocomplete="new-password")
        submitted = st.form_submit_button("Create account", type="primary", key="signup_submit")
    if not submitted:
        return
    if password != again:
        st.error("The two passwords differ.")
        return
    result, _ = attempt(auth.sign_up, name, email, password)
    if result is None:
        return
    if not result.confirmed:
        st.session_state[CONFIRM] = normalise_email(email)
        st.rerun()
    user, _ = attempt(auth.sign_in, email, password)
    if user is not None:
        start_session(user)


st.title("Genomics Annotation Service")
notice = st.session_state.pop(NOTICE, None)
if notice:
    st.success(notice)

if auth is None:  # Services built without an auth handle
    st.error(UNAVAILABLE)
    st.stop()

pending = st.session_state.get(CONFIRM)
if pending:
    confirm_step(pending)
else:
    signin, signup = st.tabs(["Sign in", "Create an account"])
    with signin:
        sign_in_tab()
    with signup:
        sign_up_tab()
