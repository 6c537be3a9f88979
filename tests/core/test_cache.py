import threading

import pytest
from django.conf import settings
from django.core.cache import caches

from core import redis_clients


@pytest.fixture
def redis_only(requires_redis):
    assert settings.CACHES["default"]["OPTIONS"]["pool_class"] == "core.redis_clients.ProcessPool"


def _pool_of_new_context():
    """Each thread gets its own cache object, as each ASGI request context does. (The test reads
    the pool through Django's private `_cache` to see which one it is.)"""
    found = {}

    def run():
        cache = caches["default"]
        cache.set("pool-probe", 1, 5)
        found["pool"] = cache._cache.get_client(write=True).connection_pool
        found["cache"] = cache

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found


def test_cache_objects_of_different_contexts_share_the_process_pool(redis_only):
    first, second = _pool_of_new_context(), _pool_of_new_context()
    assert first["cache"] is not second["cache"]
    assert first["pool"] is second["pool"] is redis_clients.sync_client().connection_pool
    assert caches["default"].get("pool-probe") == 1


def test_the_cache_and_the_clients_read_each_others_entries(redis_only):
    caches["default"].set("shared-entry", {"user_id": 7}, 30)
    raw = redis_clients.sync_client().get(redis_clients.cache_key("shared-entry"))
    assert redis_clients.cache_loads(raw) == {"user_id": 7}
    redis_clients.sync_client().set(redis_clients.cache_key("written-by-client"), redis_clients.cache_dumps("active"))
    assert caches["default"].get("written-by-client") == "active"
