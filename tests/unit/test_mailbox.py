"""gas.local.outbox.mailbox: one user's mail from the local stack's outbox, newest first."""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from gas.local.outbox import addressed_to, mailbox, outbox_dir


def write(data_dir: Path, name: str, to: str, subject: str, date: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Date"] = "gas@example.org", to, subject, date
    msg.set_content("body")
    d = outbox_dir(data_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}-{name}.eml").write_bytes(msg.as_bytes())


def test_addressed_to_matches_whole_addresses_case_insensitively() -> None:
    assert addressed_to({"to": "Alice <Alice@Example.org>"}, "alice@example.org")
    assert addressed_to({"to": "bob@example.org, alice@example.org"}, "ALICE@example.org")
    assert not addressed_to({"to": "malice@example.org"}, "alice@example.org")
    assert not addressed_to({"to": "alice@example.org.evil"}, "alice@example.org")
    assert not addressed_to({"to": ""}, "alice@example.org")
    assert not addressed_to({"to": "alice@example.org"}, "")


def test_mailbox_is_the_users_mail_newest_first(tmp_path: Path) -> None:
    write(tmp_path, "1", "alice@example.org", "old", "Fri, 20 Nov 2026 09:00:00 +0000")
    write(tmp_path, "2", "bob@example.org", "bobs", "Fri, 20 Nov 2026 09:30:00 +0000")
    write(tmp_path, "3", "alice@example.org", "new", "Fri, 20 Nov 2026 10:00:00 +0100")  # 09:00Z, later file
    write(tmp_path, "4", "alice@example.org", "newest", "Fri, 20 Nov 2026 11:00:00 +0000")
    assert [m["subject"] for m in mailbox(tmp_path, "alice@example.org")] == ["newest", "new", "old"]
    assert [m["subject"] for m in mailbox(tmp_path, "bob@example.org")] == ["bobs"]
    assert mailbox(tmp_path / "nothing", "alice@example.org") == []
