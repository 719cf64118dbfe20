"""Short-lived signed download links: `/files/{token}`, the token an HMAC-SHA256 (keyed from
SECRET_KEY) over what it names - a document or an export job, the user it was made for,
and when it expires. A link carries no authority of its own: the download re-checks that
the named user's scope, as it is then, covers every row of the file.

Token: base64url(JSON claims) "." base64url(HMAC-SHA256(key, that first part)), with
key = HMAC-SHA256(SECRET_KEY, "ducha.files.v1") so a link key is never the token key.
FILES_LINK_TTL_S sets the lifetime (default 300 s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass

from ducha.settings import get_settings

DEFAULT_TTL_S = 300
KINDS = ("document", "export")


class LinkError(Exception):
    """A link that cannot be honoured; `status` is the HTTP answer (403 bad, 410 expired)."""

    status = 403


class LinkExpired(LinkError):
    status = 410


@dataclass(frozen=True)
class Claims:
    kind: str  # document or export
    tenant_id: int
    id: int
    login: str
    expires_at: int  # unix seconds


def ttl_s() -> int:
    raw = os.environ.get("FILES_LINK_TTL_S", "").strip()
    value = int(raw) if raw.isdigit() else DEFAULT_TTL_S
    return max(10, min(value, 24 * 3600))


def _key() -> bytes:
    return hmac.new(get_settings().secret_key.encode(), b"ducha.files.v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(kind: str, tenant_id: int, id: int, login: str, *, ttl: int | None = None, now: float | None = None) -> str:
    """A token for `login` to fetch one file, valid `ttl` seconds."""
    if kind not in KINDS:
        raise ValueError(f"unknown link kind {kind!r}")
    exp = int((now if now is not None else time.time()) + (ttl if ttl is not None else ttl_s()))
    body = _b64(json.dumps({"k": kind, "t": tenant_id, "i": id, "u": login, "x": exp}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(_key(), body.encode(), hashlib.sha256).digest())
    return f"{body}.{mac}"


def verify(token: str, *, now: float | None = None) -> Claims:
    """The claims of an intact, unexpired token; LinkError (403) or LinkExpired (410) otherwise."""
    body, sep, mac = token.partition(".")
    if not sep or not body or not mac or len(token) > 2048:
        raise LinkError("malformed link")
    want = _b64(hmac.new(_key(), body.encode(), hashlib.sha256).digest())
    # Compared as the canonical text, not as decoded bytes: base64 decoders ignore the unused
    # low bits of the last character, so a decoded comparison would take several spellings of
    # one signature.
    if not mac.isascii() or not hmac.compare_digest(want.encode(), mac.encode()):
        raise LinkError("the link's signature does not match")
    try:
        c = json.loads(_unb64(body))
        claims = Claims(kind=str(c["k"]), tenant_id=int(c["t"]), id=int(c["i"]), login=str(c["u"]),
                        expires_at=int(c["x"]))
    except (ValueError, TypeError, KeyError):
        raise LinkError("malformed link") from None
    if claims.kind not in KINDS:
        raise LinkError("malformed link")
    if (now if now is not None else time.time()) >= claims.expires_at:
        raise LinkExpired("the link has expired; ask for a fresh one")
    return claims


def url(token: str) -> str:
    """The path of a link on this API (the front end prefixes its origin)."""
    return f"/files/{token}"
