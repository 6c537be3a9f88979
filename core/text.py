"""What text the database can store, checked before it gets there.

PostgreSQL's text types hold neither NUL (U+0000) nor an unpaired surrogate (U+D800-U+DFFF, which
UTF-8 cannot encode; JSON lets a client write one as `\\ud800`). Passed on, either fails inside the
database driver as a DataError or a UnicodeEncodeError, a 500 or a crashed socket instead of a 400.
"""

from __future__ import annotations


def is_storable(value: str) -> bool:
    """Whether `value` has no NUL and no unpaired surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_valid_unicode(value: str) -> bool:
    """Whether `value` encodes as UTF-8 (no unpaired surrogate); a NUL is fine here."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
