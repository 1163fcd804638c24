"""Email canonicalisation and hashing, identical to `interdict::core::email`.

Blocklists never carry addresses in clear: an email subject is `sha256:` followed by
the lowercase hex SHA-256 of the canonical address. Hash what a user types with
`hash_email` before comparing, e.g. to refuse a sign-up with a banned address.

An operator given an email hash key publishes `hmac-sha256:<key id>:<hex>` instead:
the HMAC-SHA256, under the key, of the `sha256:` form (so the operator never needs
the address, and a reader keys a typed address or an `sha256:` query alike). The
key id, the first 8 hex digits of the key's SHA-256, tells a reader whether it
holds the key an entry was made with. A reader given the same key (`EmailKey`)
matches both forms.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Optional, Union

#: Prefix that marks a hashed email in blocklists and queries.
HASH_PREFIX = "sha256:"
#: Prefix of a keyed email hash: `hmac-sha256:<key id>:<hex>`.
KEYED_PREFIX = "hmac-sha256:"
#: Shortest key accepted (32 random bytes, or 64 hex digits, are the advice).
MIN_KEY_BYTES = 16
_KEY_ID_LEN = 8

# Rust's `str::trim` removes characters with the Unicode White_Space property.
# Python's `str.strip()` also removes U+001C..U+001F, which Rust keeps, so the set is
# spelled out.
_WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


def _rust_trim(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] in _WHITE_SPACE:
        start += 1
    while end > start and text[end - 1] in _WHITE_SPACE:
        end -= 1
    return text[start:end]


def canonical_email(raw: str) -> str:
    """Trims, lower-cases and drops a `+tag` from the part before the last `@`.

    `Alice+2@Example.org ` and `alice@example.org` are one address. An address
    without `@` is only trimmed and lower-cased.
    """
    lowered = _rust_trim(raw).lower()
    local, at, domain = lowered.rpartition("@")
    if not at:
        return lowered
    local = local.split("+", 1)[0]
    return f"{local}@{domain}"


def hash_email(raw: str) -> str:
    """`sha256:<hex>` of the canonical address."""
    digest = hashlib.sha256(canonical_email(raw).encode("utf-8")).hexdigest()
    return HASH_PREFIX + digest


def _ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def query_email_hash(email: str) -> str:
    """What a query's email is compared as: a `sha256:` hash (prefix in any ASCII
    case; surrounding whitespace trimmed) is taken as is, lower-cased; anything
    else is treated as a typed address and hashed."""
    email = _rust_trim(email)
    prefix = email[: len(HASH_PREFIX)]
    is_hash = (
        len(email.encode("utf-8")) > len(HASH_PREFIX)
        and prefix.isascii()
        and _ascii_lower(prefix) == HASH_PREFIX
    )
    if is_hash:
        return _ascii_lower(email)
    return hash_email(email)


def key_id(key: bytes) -> str:
    """The first 8 hex digits of the key's SHA-256, as published in keyed hashes."""
    return hashlib.sha256(key).hexdigest()[:_KEY_ID_LEN]


def keyed_key_id(subject: str) -> Optional[str]:
    """The key id of a published email subject in the keyed form
    (`hmac-sha256:<key id>:...`), whatever follows it; None for any other form."""
    if not subject.startswith(KEYED_PREFIX):
        return None
    return subject[len(KEYED_PREFIX):].split(":", 1)[0]


class EmailKey:
    """The key of keyed email hashes, the operator's `--email-hash-key-file`
    (`interdict::core::EmailKey`). `EmailKey(b"...")` or `EmailKey("...")` (text,
    encoded as UTF-8) takes the key exactly; `EmailKey.from_file(path)` reads a
    key file (a mounted Secret) as every reader does. The key is never shown:
    `repr` gives the id only."""

    __slots__ = ("_mac", "id")

    def __init__(self, key: Union[bytes, str]):
        raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
        if len(raw) < MIN_KEY_BYTES:
            raise ValueError(
                f"the email hash key is {len(raw)} bytes; at least {MIN_KEY_BYTES} are needed "
                "(e.g. `openssl rand -hex 32`)"
            )
        self._mac = hmac.new(raw, digestmod=hashlib.sha256)
        #: First 8 hex digits of the key's SHA-256.
        self.id = key_id(raw)

    @classmethod
    def from_file_contents(cls, contents: bytes) -> "EmailKey":
        """The key as a key file holds it: without the spaces, tabs and line breaks
        around it (an editor's final newline does not change the key)."""
        return cls(contents.strip(b" \t\r\n"))

    @classmethod
    def from_file(cls, path: Union[str, "os.PathLike[str]"]) -> "EmailKey":
        """Reads a key file (`from_file_contents`). Raises OSError when it cannot be
        read, ValueError when the key is too short."""
        with open(path, "rb") as f:
            return cls.from_file_contents(f.read())

    def keyed(self, unkeyed: str) -> str:
        """`hmac-sha256:<key id>:<hex>` of an unkeyed hash (`sha256:<hex>`)."""
        mac = self._mac.copy()
        mac.update(unkeyed.encode("utf-8"))
        return f"{KEYED_PREFIX}{self.id}:{mac.hexdigest()}"

    def hash_email(self, raw: str) -> str:
        """The keyed hash of an address as typed."""
        return self.keyed(hash_email(raw))

    def __repr__(self) -> str:
        return f"EmailKey(id={self.id!r})"


#: What `email_key=` parameters take: an `EmailKey`, or the key's bytes.
EmailKeyLike = Union[EmailKey, bytes]


def as_email_key(key: Optional[EmailKeyLike]) -> Optional[EmailKey]:
    if key is None or isinstance(key, EmailKey):
        return key
    if isinstance(key, (bytes, bytearray)):
        return EmailKey(bytes(key))
    raise TypeError(
        f"email_key must be an EmailKey or bytes, not {type(key).__name__} "
        "(a key file: EmailKey.from_file(path))"
    )
