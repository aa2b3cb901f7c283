"""Server-side sign-in sessions, in the sessions table (docs/auth.md).

A session is an opaque random token (``secrets.token_urlsafe(32)``: 256 bits) that the web app
keeps in the browser's ``gas_session`` cookie. Only ``sha256(token)`` is stored, as the key, so a
copy of the table (a backup, a snapshot of the local stack) cannot be replayed as cookies. The item
holds the user id, when the session was made and when it ends::

    {token_hash: "<64 hex>", user_id: "<Cognito sub>", created_at: "<iso>", expires_at: <epoch s>}

``expires_at`` is the table's TTL attribute: DynamoDB deletes expired items eventually (within
days), so `lookup` checks the time itself and treats an expired item as absent. Revoking deletes
the item; every page run looks the session up again, so a revoked session stops working at once
in every tab.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from gas import aws
from gas.jobs import USER_ID_RE, to_iso
from gas.settings import Settings

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet; anything else is not ours
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_token(token: Any) -> bool:
    return isinstance(token, str) and bool(TOKEN_RE.match(token))


class SessionStore:
    """Sessions in DynamoDB: create -> token, lookup(token) -> user id or None, revoke(token)."""

    def __init__(self, settings: Settings | None = None, *, client: Any = None, table: str | None = None,
                 ttl_s: int | None = None, clock: Any = time.time) -> None:
        self.settings = settings or Settings.from_env()
        self.table = table or self.settings.sessions_table
        self.ttl_s = int(ttl_s if ttl_s is not None else self.settings.session_ttl_s)
        self._client = client
        self._clock = clock

    @property
    def ddb(self) -> Any:
        return self._client or aws.dynamodb(self.settings.region)

    def create(self, user_id: str) -> str:
        """A new session for `user_id`; returns the token (shown to the browser, never stored)."""
        if not USER_ID_RE.match(user_id or ""):
            raise ValueError(f"invalid user id {user_id!r}")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = self._clock()
        self.ddb.put_item(TableName=self.table, Item={
            "token_hash": {"S": token_hash(token)}, "user_id": {"S": user_id},
            "created_at": {"S": to_iso(datetime.fromtimestamp(now, UTC))},
            "expires_at": {"N": str(int(now + self.ttl_s))}},
            ConditionExpression="attribute_not_exists(token_hash)")
        return token

    def lookup(self, token: Any) -> str | None:
        """The user id of a live session; None for a malformed, unknown, revoked or expired token."""
        if not valid_token(token):
            return None
        item = self.ddb.get_item(TableName=self.table, Key={"token_hash": {"S": token_hash(token)}},
                                 ConsistentRead=True).get("Item")
        if not item:
            return None
        try:
            expires = float(item["expires_at"]["N"])
            user_id = item["user_id"]["S"]
        except (KeyError, ValueError):
            return None
        if expires <= self._clock() or not USER_ID_RE.match(user_id):
            return None
        return user_id

    def revoke(self, token: Any) -> None:
        """End the session (idempotent; a malformed token is ignored)."""
        if valid_token(token):
            self.ddb.delete_item(TableName=self.table, Key={"token_hash": {"S": token_hash(token)}})
