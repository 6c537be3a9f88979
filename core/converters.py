"""Path converters shared by every app's URLs.

`<dbid:name>` is a positive id that fits the database's 64-bit primary keys (BigAutoField, 1 to
2**63 - 1). Django's `<int:...>` matches any run of digits, and an id past the column's range reaches
the database, where SQLite raises OverflowError and PostgreSQL "bigint out of range" unless every
lookup on the way happens to be range-checked (plain `pk=` lookups are; foreign-key lookups are
not). With `dbid` such a path simply does not match: 404 before any query.
"""

from __future__ import annotations

from django.urls import register_converter

DATABASE_ID_MAX = 2**63 - 1


class DatabaseIdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= DATABASE_ID_MAX:
            raise ValueError(f"{value} is not a database id")  # Django then tries the next pattern: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(DatabaseIdConverter, "dbid")
