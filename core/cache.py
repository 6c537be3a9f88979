"""Django's Redis cache with one connection pool per process.

Under ASGI, Django keeps a separate cache object per request context, and each builds its own
redis-py connection pool, so every request opened a new TCP connection to Redis. The pools here
are shared by every cache object of the process (keyed by server URL and options); redis-py
resets a pool by itself in a forked child, so Celery's prefork workers stay safe.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

_pools: dict[tuple[str, str], object] = {}
_lock = threading.Lock()


class ProcessWideRedisCacheClient(RedisCacheClient):
    def _get_connection_pool(self, write):
        index = self._get_connection_pool_index(write)
        key = (self._servers[index], repr(sorted(self._pool_options.items(), key=lambda item: item[0])))
        pool = _pools.get(key)
        if pool is None:
            with _lock:
                pool = _pools.get(key)
                if pool is None:
                    pool = self._pool_class.from_url(self._servers[index], **self._pool_options)
                    _pools[key] = pool
        return pool


class ProcessWideRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ProcessWideRedisCacheClient
