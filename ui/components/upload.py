"""The browser-to-S3 upload: a small `st.components.v2` component and its server-side flow.

The file's bytes never pass through Streamlit. The flow, one rerun per arrow (docs/upload.md):

1. the user picks a file; the component reads only its name, its size and its first 64 KiB
   (``File.slice``) and fires the ``picked`` trigger with them;
2. `on_picked` (server) calls `gas.submit.start_upload` with a fresh read of the user: a
   refusal (too large for the plan, empty, not a VCF) is shown in words and nothing exists; else
   the `UploadTicket` goes into ``st.session_state`` and the component is re-rendered with
   ``data.form = {ticket, url, fields}`` only;
3. the component POSTs the form to S3 itself (fields first, the file last) with an
   ``XMLHttpRequest`` whose ``upload.onprogress`` drives the progress bar, then fires the
   ``uploaded`` trigger with ``{ticket, ok, status, error}``;
4. `on_uploaded` (server) trusts nothing of that report but "the browser is done with ticket X":
   it takes its own ticket from the session and calls `gas.submit.finish_upload` (HEAD + ranged
   GET of the object, then the PENDING job and its JobRequest) or, on a failed upload,
   `abandon_upload`. The outcome ("Job <id> submitted", or the refusal) is kept in the session.

Robust against reruns: the flow's state lives in ``st.session_state[FLOW]`` and only callbacks
change it; every handled event bumps ``seq`` so the component always sees new data; the JS keeps
its own per-element state (the picked File, the tickets it already posted) and never posts a
ticket twice; a report for a ticket that is not the pending one is ignored.

The handlers take the user and the core functions as arguments, so tests drive them without a
browser (tests/ui/test_submit_page.py).
"""
from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

import streamlit as st
from botocore.exceptions import BotoCoreError, ClientError

from gas import submit as core
from gas.jobs import Job
from gas.users import User

log = logging.getLogger("gas.ui.upload")

KEY = "gas_upload"          # the component instance's key
FLOW = "gas_upload_flow"    # st.session_state[FLOW]: the server-side state of the flow
HEAD_BYTES = 64 * 1024      # what the browser reads from the start of the file
MAX_NAME = 1024

HTML = """
<div class="gas-upload">
  <label class="pick">
    <span class="pick-label">Choose a VCF file</span>
    <input type="file" accept=".vcf,.gz,.bgz,text/vcf,application/gzip" data-testid="gasUploadInput">
  </label>
  <div class="bar" hidden><div class="fill"></div></div>
  <div class="row">
    <span class="status" data-testid="gasUploadStatus" aria-live="polite"></span>
    <button type="button" class="cancel" hidden>Cancel</button>
  </div>
</div>
"""

CSS = """
.gas-upload { font-family: var(--st-font); color: var(--st-text-color); display: flex;
  flex-direction: column; gap: 0.5rem; }
.pick { display: inline-flex; align-items: center; gap: 0.75rem; }
.pick-label { font-weight: 600; }
.bar { height: 0.6rem; border-radius: 0.3rem; background: var(--st-secondary-background-color);
  overflow: hidden; }
.bar .fill { height: 100%; width: 0%; background: var(--st-primary-color); transition: width 0.2s; }
.row { display: flex; align-items: center; gap: 0.75rem; min-height: 1.5rem; }
.status { font-size: 0.9rem; }
.status.error { color: var(--st-red-color, #d33); }
.cancel { font: inherit; padding: 0.1rem 0.6rem; border-radius: 0.4rem;
  border: 1px solid var(--st-border-color, #ccc); background: transparent; color: inherit; cursor: pointer; }
"""

# Every text the component shows goes through textContent (never innerHTML): file names and S3
# answers are untrusted.
JS = r"""
const HEAD_BYTES = 65536;

function base64Of(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

function s3Error(xhr) {
  // S3 answers a refused POST with <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>
  try {
    const doc = new DOMParser().parseFromString(xhr.responseText || "", "application/xml");
    const code = doc.querySelector("Code"), msg = doc.querySelector("Message");
    if (code) return (code.textContent + (msg ? ": " + msg.textContent : "")).slice(0, 300);
  } catch (e) { /* not XML */ }
  return ("HTTP " + xhr.status + " " + (xhr.statusText || "")).trim();
}

export default function (component) {
  const { data, setTriggerValue, parentElement } = component;
  const root = parentElement.querySelector(".gas-upload");
  if (!root) return;
  const input = root.querySelector("input[type=file]");
  const bar = root.querySelector(".bar");
  const fill = root.querySelector(".bar .fill");
  const status = root.querySelector(".status");
  const cancel = root.querySelector(".cancel");
  // Per-element state survives re-renders (new data) of the same mounted component.
  const s = root.__gas || (root.__gas = { file: null, posted: {}, xhr: null, gone: false });
  const d = data || {};

  function show(text, pct, isError) {
    status.textContent = text || "";
    status.classList.toggle("error", !!isError);
    bar.hidden = pct === null || pct === undefined;
    if (!bar.hidden) fill.style.width = Math.max(0, Math.min(100, pct)) + "%";
  }
  function busy(on) { input.disabled = on; cancel.hidden = !on; }

  input.onchange = async () => {
    const file = input.files && input.files[0];
    if (!file || s.xhr) return;
    s.file = file;
    show("Checking " + file.name + " …", null);
    let head = null;
    try {
      head = base64Of(new Uint8Array(await file.slice(0, HEAD_BYTES).arrayBuffer()));
    } catch (e) { head = null; /* the server checks the object after the upload anyway */ }
    setTriggerValue("picked", { name: file.name, size: file.size, head: head,
                                pick: Date.now() + ":" + Math.random() });
  };

  cancel.onclick = () => { if (s.xhr) s.xhr.abort(); };

  function report(ticket, ok, code, error) {
    s.xhr = null;
    busy(false);
    input.value = "";
    s.file = null;
    if (s.gone) return;  // unmounted (navigated away): the server abandons the ticket itself
    if (ok) show("Uploaded. Checking the file …", 100);
    else show("Upload failed: " + error, null, true);
    setTriggerValue("uploaded", { ticket: ticket, ok: ok, status: code, error: error });
  }

  function post(form) {
    const fd = new FormData();
    for (const [k, v] of Object.entries(form.fields || {})) fd.append(k, v);
    fd.append("file", s.file);  // last: S3 ignores every field after the file
    const xhr = new XMLHttpRequest();
    s.xhr = xhr;
    busy(true);
    const name = s.file.name;
    show("Uploading " + name + " … 0%", 0);
    xhr.upload.onprogress = (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.floor((100 * e.loaded) / e.total);
      show("Uploading " + name + " … " + pct + "%", pct);
    };
    xhr.onload = () => {
      const ok = xhr.status >= 200 && xhr.status < 300;
      report(form.ticket, ok, xhr.status, ok ? "" : s3Error(xhr));
    };
    xhr.onerror = () => report(form.ticket, false, 0,
      "the storage service could not be reached: a network error, or this site's address is not " +
      "an allowed origin of the bucket's CORS rule");
    xhr.onabort = () => report(form.ticket, false, 0, "cancelled");
    xhr.open("POST", form.url);
    xhr.send(fd);
  }

  const form = d.form;
  if (form && form.ticket && !s.posted[form.ticket]) {
    s.posted[form.ticket] = true;
    if (s.file) post(form);
    else report(form.ticket, false, 0, "the file is no longer selected; choose it again");
  } else if (!s.xhr) {
    busy(false);
    show(d.hint || "", null);
  }

  return () => { s.gone = true; if (s.xhr) s.xhr.abort(); };
}
"""

_component = st.components.v2.component("gas.upload", html=HTML, css=CSS, js=JS)


# ----------------------------------------------------------------------------- server-side state

def new_flow(user_id: str) -> dict[str, Any]:
    return {"user_id": user_id, "ticket": None, "job": None, "error": None, "retry": False, "seq": 0}


def flow(user_id: str) -> dict[str, Any]:
    """The flow's state in this session for `user_id`: the pending ticket, the last outcome, a
    counter. Another user signing in in the same tab starts from a fresh state (the last user's
    ticket and outcome are not theirs to see)."""
    state = st.session_state.get(FLOW)
    if not isinstance(state, dict) or state.get("user_id") != user_id:
        old = state.get("seq", 0) if isinstance(state, dict) else 0
        state = st.session_state[FLOW] = new_flow(user_id)
        state["seq"] = old + 1 if old else 0  # new data for a still-mounted component
    return state


def _outcome(state: dict[str, Any], *, job: Job | None = None, error: str | None = None,
             keep_ticket: bool = False, retry: bool = False) -> None:
    state["job"] = None if job is None else {"job_id": job.job_id, "input_file": job.input_file}
    state["error"] = error
    state["retry"] = retry
    if not keep_ticket:
        state["ticket"] = None
    state["seq"] += 1


def _parse_pick(payload: Any) -> tuple[str, int, bytes | None]:
    """(name, size, first bytes) from the browser's report; ValueError for anything malformed."""
    report = payload if isinstance(payload, dict) else {}
    name, size, head = report.get("name"), report.get("size"), report.get("head")
    if not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("malformed report")
    first: bytes | None = None
    if isinstance(head, str) and head:
        if len(head) > (HEAD_BYTES * 4) // 3 + 8:
            raise ValueError("malformed report")
        try:
            first = base64.b64decode(head, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("malformed report") from exc
    return name[:MAX_NAME], size, first


def on_picked(state: dict[str, Any], user: User | None, payload: Any, *,
              start: Callable[..., core.UploadTicket] = core.start_upload,
              abandon: Callable[..., Any] = core.abandon_upload) -> None:
    """A file was chosen: refuse it in words, or keep a ticket so the component posts it."""
    if user is None:
        return
    old = state.get("ticket")
    if old is not None:  # a new pick replaces a ticket that was never finished
        _quietly(abandon, user, old)
    try:
        name, size, first = _parse_pick(payload)
    except ValueError:
        _outcome(state, error="The browser sent an unreadable description of the file; please choose it again.")
        return
    try:
        ticket = start(user, name, size, first)
    except core.SubmitRefused as exc:
        _outcome(state, error=exc.reason)
        return
    except (BotoCoreError, ClientError):
        log.exception("start_upload failed")
        _outcome(state, error="The upload could not be prepared just now. Please try again in a moment.")
        return
    _outcome(state)
    state["ticket"] = ticket


def on_uploaded(state: dict[str, Any], user: User | None, payload: Any, *,
                finish: Callable[..., Job] = core.finish_upload,
                abandon: Callable[..., Any] = core.abandon_upload) -> None:
    """The browser is done with a ticket: check the object and create the job, or clean up.

    Only the ticket id of the report is used, to ignore a stale report; the key and the size
    come from the server's own ticket and from S3."""
    ticket = state.get("ticket")
    if user is None or ticket is None or not isinstance(payload, dict) or payload.get("ticket") != ticket.job_id:
        return
    if payload.get("ok") is not True:
        _quietly(abandon, user, ticket)
        detail = str(payload.get("error") or f"HTTP {payload.get('status')}")[:300]
        if detail == "cancelled":
            _outcome(state, error="Upload cancelled. No job was created.")
        else:
            _outcome(state, error=f"The upload did not reach storage: {detail}. No job was created.")
        return
    confirm(state, user, finish=finish)


def confirm(state: dict[str, Any], user: User | None, *,
            finish: Callable[..., Job] = core.finish_upload) -> None:
    """finish_upload for the pending ticket (also the "Try again" button after an AWS hiccup)."""
    ticket = state.get("ticket")
    if user is None or ticket is None:
        return
    try:
        job = finish(user, ticket)
    except core.SubmitRefused as exc:
        _outcome(state, error=exc.reason + ". No job was created.")
        return
    except (BotoCoreError, ClientError):
        log.exception("finish_upload failed")
        _outcome(state, error="The upload arrived but could not be confirmed just now.",
                 keep_ticket=True, retry=True)
        return
    _outcome(state, job=job)




def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # best effort: an orphan input is harmless (no job refers to it)
        log.warning("abandoning an upload failed", exc_info=True)


# ----------------------------------------------------------------------------- rendering

def component_data(state: dict[str, Any], hint: str) -> dict[str, Any]:
    """What the browser gets: the form of the pending ticket (url and fields only), a hint."""
    ticket: core.UploadTicket | None = state.get("ticket")
    form = None
    if ticket is not None and not state.get("retry"):
        form = {"ticket": ticket.job_id, **ticket.form()}
    return {"form": form, "hint": hint, "seq": state["seq"]}


def uploader(user: User, user_loader: Callable[[], User | None], hint: str) -> dict[str, Any]:
    """Mount the component for `user`; returns the flow's state (the outcome to show).
    `user_loader` re-reads the signed-in user (fresh plan) when a callback runs."""
    state = flow(user.user_id)

    def fresh() -> User | None:  # the signed-in user now, only if the flow is theirs
        now = user_loader()
        return now if now is not None and now.user_id == state["user_id"] else None

    def picked() -> None:
        on_picked(state, fresh(), st.session_state[KEY].get("picked"))

    def uploaded() -> None:
        on_uploaded(state, fresh(), st.session_state[KEY].get("uploaded"))

    _component(key=KEY, data=component_data(state, hint), on_picked_change=picked,
               on_uploaded_change=uploaded, height="content")
    return state
