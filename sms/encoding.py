"""How many SMS parts a text takes: GSM-7 when every character is in the GSM 03.38 alphabet, else UCS-2.

A text in Persian, Chinese or Russian is sent as UCS-2 (UTF-16): 70 code units fit one part, 67 per
part once it is split. A GSM-7 text fits 160 septets in one part, 153 per part once split; the
characters of the extension table (such as `€`, `{`, `[`) take two septets each. The GSM alphabet
is the `gsm0338` codec's (registered on import), not a table kept here.
"""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401  (registers the "gsm03.38" codec)

GSM7 = "gsm-7"
UCS2 = "ucs-2"
SINGLE_PART_UNITS = {GSM7: 160, UCS2: 70}
MULTI_PART_UNITS = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class SmsSize:
    encoding: str  # GSM7 or UCS2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def sms_size(text: str) -> SmsSize:
    """The encoding, length in that encoding's units, and number of parts of `text`."""
    try:
        encoding, units = GSM7, len(text.encode("gsm03.38"))
    except UnicodeEncodeError:
        encoding, units = UCS2, len(text.encode("utf-16-le")) // 2
    if units <= SINGLE_PART_UNITS[encoding]:
        parts = 1 if units else 0
    else:
        parts = -(-units // MULTI_PART_UNITS[encoding])
    return SmsSize(encoding=encoding, units=units, parts=parts)
