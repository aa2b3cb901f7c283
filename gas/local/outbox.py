"""The local stack's outbox: every email moto's SES "sent", written as an RFC 822 ``.eml`` file.

moto keeps sent mail in its in-process SES backend only
(``moto.ses.models.ses_backends[account][region].sent_messages``; SES v2 delegates to it), so
`OutboxWriter.sync()` must run in the process that holds moto (the stack process). It writes one
``<data_dir>/outbox/<timestamp>-<message-id>.eml`` per message not written yet, so calling it
again (periodically, or at shutdown) is harmless. `read_outbox` parses those files and works from
any process (`gas outbox`, tests, the UI).

moto keeps one body per Simple message: the HTML part when there is one, else the text part.
The file therefore holds that body as it came (text/html or text/plain) and, for HTML, a
text/plain rendering next to it (multipart/alternative), which is what `read_outbox` reports as
``text``.
"""
from __future__ import annotations

import email
import email.policy
import os
import re
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from gas.jobs import to_iso

OUTBOX_DIR = "outbox"
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]+")
_HTML_HINT = re.compile(r"<\s*(html|body|p|div|br|table|h\d|ul|a)\b", re.IGNORECASE)


def outbox_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / OUTBOX_DIR


def _safe_id(message_id: str) -> str:
    return _SAFE_ID.sub("_", message_id)[:120] or "message"


def _stamp(dt: datetime) -> str:
    """File-name timestamp: fixed width, sorts by time, no ':' (portable file names)."""
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%S.") + f"{dt.microsecond // 1000:03d}Z"


class _Text(HTMLParser):
    """HTML -> readable plain text (block elements become line breaks; scripts/styles dropped)."""

    BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(self.parts).split("\n")]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def html_to_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.text()


def _looks_like_html(body: str) -> bool:
    return bool(_HTML_HINT.search(body or ""))


def build_eml(message: Any, sent_at: datetime) -> bytes | None:
    """One moto SES message as RFC 822 bytes (None for kinds without a body, e.g. templates)."""
    mid = getattr(message, "id", "") or "unknown"
    raw = getattr(message, "raw_data", None)
    if raw is not None:  # SendRawEmail: the message is already RFC 822
        parsed = email.message_from_string(raw if isinstance(raw, str) else raw.decode("utf-8", "replace"),
                                           policy=email.policy.default)
        if "Date" not in parsed:
            parsed["Date"] = format_datetime(sent_at)
        if "X-SES-Message-Id" not in parsed:
            parsed["X-SES-Message-Id"] = mid
        if "To" not in parsed and getattr(message, "destinations", None):
            parsed["To"] = ", ".join(message.destinations)
        return parsed.as_bytes()
    body = getattr(message, "body", None)
    if body is None:
        return None
    dest = getattr(message, "destinations", {}) or {}
    msg = EmailMessage()
    msg["From"] = message.source
    msg["To"] = ", ".join(dest.get("ToAddresses", []))
    if dest.get("CcAddresses"):
        msg["Cc"] = ", ".join(dest["CcAddresses"])
    if dest.get("BccAddresses"):
        msg["Bcc"] = ", ".join(dest["BccAddresses"])
    msg["Subject"] = message.subject or ""
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = f"<{_safe_id(mid)}@local.gas>"
    msg["X-SES-Message-Id"] = mid
    if _looks_like_html(body):
        msg.set_content(html_to_text(body))
        msg.add_alternative(body, subtype="html")
    else:
        msg.set_content(body)
    return msg.as_bytes()


class OutboxWriter:
    """Writes moto's sent SES messages to ``<data_dir>/outbox``; `sync()` is idempotent."""

    def __init__(self, data_dir: str | Path, *, backends: Any = None) -> None:
        self.dir = outbox_dir(data_dir)
        self._backends = backends
        self._lock = threading.Lock()
        self._last: datetime | None = None

    def _messages(self) -> list[Any]:
        backends = self._backends
        if backends is None:
            from moto.ses.models import ses_backends
            backends = ses_backends
        out: list[Any] = []
        for _account, regions in list(backends.items()):
            for _region, backend in list(regions.items()):
                out.extend(list(getattr(backend, "sent_messages", [])))
        return out

    def written_ids(self) -> set[str]:
        if not self.dir.is_dir():
            return set()
        return {p.stem.split("-", 1)[1] for p in self.dir.glob("*.eml") if "-" in p.stem}

    def sync(self) -> list[Path]:
        """Write every sent message not written yet; returns the new files (oldest first)."""
        with self._lock:
            done = self.written_ids()
            new: list[Path] = []
            for message in self._messages():
                mid = getattr(message, "id", None)
                if not mid or _safe_id(mid) in done:
                    continue
                # moto records no send time: use now, strictly increasing so names keep send order
                now = datetime.now(UTC)
                if self._last is not None and now <= self._last:
                    now = self._last + timedelta(milliseconds=1)
                data = build_eml(message, now)
                if data is None:
                    continue
                self._last = now
                self.dir.mkdir(parents=True, exist_ok=True)
                path = self.dir / f"{_stamp(now)}-{_safe_id(mid)}.eml"
                tmp = path.with_name("." + path.name + ".tmp")
                tmp.write_bytes(data)
                os.replace(tmp, path)
                done.add(_safe_id(mid))
                new.append(path)
            return new


def _text_of(msg: email.message.EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    if part is not None:
        return part.get_content()
    part = msg.get_body(preferencelist=("html",))
    return html_to_text(part.get_content()) if part is not None else ""


def read_outbox(data_dir: str | Path) -> list[dict[str, Any]]:
    """Every written email, oldest first: {to, from, subject, date, text, html, message_id, file}."""
    d = outbox_dir(data_dir)
    if not d.is_dir():
        return []
    out = []
    for path in sorted(d.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        try:
            date = to_iso(parsedate_to_datetime(msg["Date"])) if msg["Date"] else None
        except (TypeError, ValueError):
            date = None
        html_part = msg.get_body(preferencelist=("html",))
        out.append({"to": str(msg["To"] or ""), "from": str(msg["From"] or ""),
                    "subject": str(msg["Subject"] or ""), "date": date, "text": _text_of(msg),
                    "html": html_part.get_content() if html_part is not None else None,
                    "message_id": str(msg["X-SES-Message-Id"] or path.stem.split("-", 1)[-1]),
                    "file": str(path)})
    return out


def addressed_to(message: dict[str, Any], address: str) -> bool:
    """True when `address` (case-insensitively) is one of the message's To recipients."""
    from email.utils import getaddresses
    wanted = (address or "").strip().lower()
    return bool(wanted) and any(addr.strip().lower() == wanted
                                for _, addr in getaddresses([message.get("to") or ""]))


def mailbox(data_dir: str | Path, address: str) -> list[dict[str, Any]]:
    """The outbox messages sent to `address` only, newest first (what one user may read)."""
    mine = [m for m in read_outbox(data_dir) if addressed_to(m, address)]
    return sorted(mine, key=lambda m: (m.get("date") or "", m.get("file") or ""), reverse=True)
