"""Email canonicalisation and hashing, identical to `interdict::core::email`.

Blocklists never carry addresses in clear: an email subject is `sha256:` followed by
the lowercase hex SHA-256 of the canonical address. Hash what a user types with
`hash_email` before comparing, e.g. to refuse a sign-up with a banned address.
"""

from __future__ import annotations

import hashlib

#: Prefix that marks a hashed email in blocklists and queries.
HASH_PREFIX = "sha256:"

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
