import threading

import pytest
from django.conf import settings
from django.core.cache import caches


@pytest.fixture
def redis_only(requires_redis):
    assert settings.CACHES["default"]["BACKEND"] == "core.cache.ProcessWideRedisCache"


def _pool_of_new_context():
    """Each thread gets its own cache object, as each ASGI request context does."""
    found = {}

    def run():
        cache = caches["default"]
        cache.set("pool-probe", 1, 5)
        found["pool"] = cache._cache._get_connection_pool(write=True)
        found["cache"] = cache

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found


def test_cache_objects_of_different_contexts_share_one_pool(redis_only):
    first, second = _pool_of_new_context(), _pool_of_new_context()
    assert first["cache"] is not second["cache"]
    assert first["pool"] is second["pool"]
    assert caches["default"].get("pool-probe") == 1
