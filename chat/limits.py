"""The send limit: at most N messages per user in ANY window of W seconds (a sliding log, not
fixed windows, which would let 2N through across a window boundary). Shared across processes in
Redis; in-process in embedded mode."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections import deque

from django.conf import settings

from core import redis_clients

# KEYS[1] log; ARGV: now, window, limit, member -> 0 allowed, else ms until a slot frees
_SLIDING = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) * 1000))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000) + 1000)
return 0
"""

_lock = threading.Lock()
_memory: dict[int, deque] = {}


def _key(user_id: int) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX') or 'hotline'}:chat:send:{user_id}"


def send_slot(user_id: int) -> int:
    """Take one send slot for the user: 0 when allowed, else whole seconds until one frees (>= 1)."""
    limit = settings.CHAT_MESSAGES_PER_WINDOW
    window = settings.CHAT_RATE_WINDOW_SECONDS
    now = time.time()
    if settings.REDIS_URL:
        wait_ms = int(redis_clients.sync_script(_SLIDING)(keys=[_key(user_id)], args=[now, window, limit, uuid.uuid4().hex]))
        return 0 if wait_ms == 0 else max(1, math.ceil(wait_ms / 1000))
    with _lock:
        log = _memory.setdefault(user_id, deque())
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) >= limit:
            return max(1, math.ceil(log[0] + window - now))
        log.append(now)
        return 0


class SubscribeBucket:
    """Subscribes of one socket: a burst of CHAT_SUBSCRIBE_BURST, refilled at
    CHAT_SUBSCRIBES_PER_SECOND. Kept in the socket itself (no Redis round trip): what it bounds is
    the database reads and replays one socket can ask for, and a user has at most
    CHAT_MAX_SOCKETS_PER_USER sockets."""

    def __init__(self):
        self.capacity = float(settings.CHAT_SUBSCRIBE_BURST)
        self.rate = max(settings.CHAT_SUBSCRIBES_PER_SECOND, 0.001)
        self.tokens = self.capacity
        self.at = time.monotonic()

    def take(self) -> int:
        """0 when a subscribe is allowed now, else whole seconds until one is (>= 1)."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0
        return max(1, math.ceil((1 - self.tokens) / self.rate))
