"""The one clock of the project.

Everything that depends on time (code expiry, limits, session last-seen, login expiry)
calls `now()` or `monotonic_now()` from here, so tests travel in time with time-machine
instead of sleeping.
"""

import time
from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()


def timestamp() -> float:
    return time.time()
