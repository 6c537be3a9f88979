"""The one owner of Redis clients: every connection hotline opens to Redis comes from here.

- `sync_client()`: one thread-safe `redis.Redis` per process, on the process's one connection pool.
  Django's cache uses the same pool (`ProcessPool`, the cache's documented `pool_class` option), and
  so do the rate limits (`core.ratelimit`), chat's send limit and the WebSocket ticket redemption.
- `async_client()`: one `redis.asyncio.Redis` per event loop (redis.asyncio connections belong to the
  loop that opened them), kept in a `core.loops.PerLoop`: the handshake's cache reads and writes
  (`accounts`), chat presence and typing, the auth4app store and its push subscription.
- `RedisPubSubChannelLayer`: channels-redis's pub/sub layer, its connections given the same policy.
- Celery's broker connections are kombu's; settings give them the same health-check interval
  (CELERY_BROKER_TRANSPORT_OPTIONS), and Celery reconnects to its broker by itself.

The policy, from settings.REDIS_CLIENTS (docs/configuration.md):

- **Blocking pools of a set size.** A burst (a thousand sockets connecting) waits up to
  `pool_timeout` for a free connection instead of failing at once with MaxConnectionsError, which
  used to end sockets with 1011.
- **Retries.** A connection error (Redis restarted, the connection was reset, a connect refused) is
  retried `retries` times, each on a new connection, after exponential backoff with "equal" jitter
  (redis-py's EqualJitterBackoff: 50-100 ms, then 100-200 ms, 200-400 ms, ... up to 1 s; with 3
  retries a command waits 0.35-0.7 s in all before it fails), so a restart of Redis costs a command a
  pause, not an error. Full jitter could retry three times within a few milliseconds, before a
  restarting Redis listens again. Timeouts are not retried:
  the command may have run, and some of ours are not idempotent (the rate limits' INCR and DECR). A
  command whose connection broke after Redis ran it may run twice; every such command here either
  is idempotent or is a counter that Redis lost anyway when it restarted.
- **Health checks.** A connection idle for longer than `health_check_interval` is PINGed before use
  and replaced when the PING fails, so a pool does not hand out connections that a Redis restart
  broke while they sat idle.

Why redis-py's defaults are not enough: a client given a pool of its own (as ours must be, to size
it) gets no retry at all (redis-py gives such connections `Retry(NoBackoff(), 0)`), and idle
connections are never checked (`health_check_interval` 0). Before this module, six pools in six files
were tuned by hand, and two asynchronous pools kept dead connections for minutes after a Redis
restart (issue 21).

Past one Redis (docs/deployment.md):

- **Sentinel** (REDIS_SENTINELS + REDIS_SENTINEL_MASTER): every pool here is a sentinel-backed one
  (redis-py's `SentinelConnectionPool` made blocking, sync and async) that asks the sentinels for the
  master whenever it connects and drops connections to a demoted master, so a failover costs the
  clients their in-flight commands, not a restart. The channel layer's host takes channels-redis's
  own sentinel form; the Celery broker is kombu's `sentinel://` transport (config/settings.py).
- **A sharded channel layer** (CHANNEL_LAYER_REDIS_URLS): one layer host per URL; channels-redis
  hashes each channel and group name to one of them.
- **The channel layer's doorbell may miss rings.** A layer connection that carries subscriptions and
  is lost (Redis restarted, a failover) may miss events until it has subscribed again, and a socket
  that stays open would never learn of them. Its loss is reported to core.layer_links, which closes
  the process's chat sockets 4503, so that clients resume with `after` (docs/websocket.md).

Nothing outside this module creates a client (tests/core/test_structure.py keeps it so).
"""

from __future__ import annotations

import threading

from channels_redis.pubsub import RedisPubSubChannelLayer as _ChannelsRedisPubSubLayer
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache, RedisSerializer

from core import layer_links
from core.loops import PerLoop

_lock = threading.Lock()
_sync_pool_instance = None
_sync_client_instance = None
_sync_scripts: dict = {}
# Values in the cache's own format, so that the async client and Django's cache read each other's
# entries. The cache is configured without a serializer option, so this is exactly the one it uses.
_cache_serializer = RedisSerializer()


def _policy() -> dict:
    return settings.REDIS_CLIENTS


def _backoff():
    from redis.backoff import EqualJitterBackoff

    return EqualJitterBackoff(base=0.05, cap=1.0)


def _sync_retry():
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.retry import Retry

    return Retry(_backoff(), _policy()["retries"], supported_errors=(RedisConnectionError,))


def _async_retry():
    from redis.asyncio.retry import Retry
    from redis.exceptions import ConnectionError as RedisConnectionError

    return Retry(_backoff(), _policy()["retries"], supported_errors=(RedisConnectionError,))


def _connection_options(*, socket_timeout: float) -> dict:
    policy = _policy()
    return {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": policy["connect_timeout"],
        "socket_keepalive": True,
        "health_check_interval": policy["health_check_interval"],
    }


def sentinel_enabled() -> bool:
    return bool(settings.REDIS_SENTINELS)


def _sentinel_kwargs() -> dict:
    """How the clients talk to the sentinels themselves (not to the master)."""
    policy = _policy()
    kwargs = {"socket_timeout": policy["connect_timeout"], "socket_connect_timeout": policy["connect_timeout"]}
    if settings.REDIS_SENTINEL_PASSWORD:
        kwargs["password"] = settings.REDIS_SENTINEL_PASSWORD
    return kwargs


def _master_options() -> dict:
    """The master's password, username and database: REDIS_URL's (whose host is the master's name)."""
    from redis.connection import parse_url

    options = parse_url(_url())
    return {key: options[key] for key in ("username", "password", "db") if options.get(key) is not None}


def enabled() -> bool:
    """Whether this configuration has Redis (REDIS_URL); the embedded mode has none."""
    return bool(settings.REDIS_URL)


def _url() -> str:
    if not settings.REDIS_URL:
        raise RuntimeError("Redis is not configured (REDIS_URL is empty): the embedded mode has no Redis client")
    return settings.REDIS_URL


# --- Synchronous: one client per process ----------------------------------------------------


def _sync_pool():
    global _sync_pool_instance
    if _sync_pool_instance is None:
        import redis

        with _lock:
            if _sync_pool_instance is None:
                policy = _policy()
                options = {
                    "max_connections": policy["sync_max_connections"],
                    "timeout": policy["pool_timeout"],
                    "retry": _sync_retry(),
                    **_connection_options(socket_timeout=policy["sync_socket_timeout"]),
                }
                if sentinel_enabled():
                    _sync_pool_instance = _sync_sentinel_pool(**options)
                else:
                    _sync_pool_instance = redis.BlockingConnectionPool.from_url(_url(), **options)
    return _sync_pool_instance


def _sync_sentinel_pool(**options):
    from redis.connection import BlockingConnectionPool
    from redis.sentinel import Sentinel, SentinelConnectionPool

    class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
        """Sentinel's master discovery with the blocking pool's wait for a free connection (the
        policy above); redis-py has only the non-blocking sentinel pool."""

    sentinels = Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=_sentinel_kwargs())
    return BlockingSentinelConnectionPool(settings.REDIS_SENTINEL_MASTER, sentinels, **_master_options(), **options)


def sync_client():
    """The process's `redis.Redis` (thread-safe; redis-py resets its pool in a forked child, so
    Celery's prefork workers are safe)."""
    global _sync_client_instance
    if _sync_client_instance is None:
        import redis

        pool = _sync_pool()
        with _lock:
            if _sync_client_instance is None:
                _sync_client_instance = redis.Redis(connection_pool=pool)
    return _sync_client_instance


def sync_script(source: str):
    """A registered Lua script on the process's client (EVALSHA, loading it again on NOSCRIPT)."""
    script = _sync_scripts.get(source)
    if script is None:
        script = _sync_scripts.setdefault(source, sync_client().register_script(source))
    return script


class ProcessPool:
    """Django's Redis cache's `pool_class` option: whatever the cache asks for, it gets the process's
    one pool. Django keeps a cache object per request context under ASGI, and each used to build its
    own pool, so every request opened a new connection to Redis. With Sentinel that pool is the
    sentinel-backed one, so the cache follows a failover like every other client."""

    @classmethod
    def from_url(cls, url: str, **options):
        if url != settings.REDIS_URL:
            raise ValueError("the Redis cache's LOCATION must be REDIS_URL: it shares core.redis_clients' pool")
        return _sync_pool()


# --- The default cache's entries, read and written by these clients -------------------------


def cache_is_redis() -> bool:
    """Whether the default cache is Redis (False in the embedded mode and under tests that swap it)."""
    return isinstance(caches["default"], RedisCache)


def cache_key(key: str) -> str:
    """The Redis key of the cache's `key` (its prefix and version)."""
    return caches["default"].make_and_validate_key(key)


def cache_dumps(value) -> bytes:
    return _cache_serializer.dumps(value)


def cache_loads(raw: bytes):
    return _cache_serializer.loads(raw)


# --- Asynchronous: one client per event loop ------------------------------------------------


def _new_async_client(url: str):
    import redis.asyncio as aioredis

    policy = _policy()
    options = {
        "max_connections": policy["async_max_connections"],
        "timeout": policy["pool_timeout"],
        "retry": _async_retry(),
        **_connection_options(socket_timeout=policy["async_socket_timeout"]),
    }
    if url is None:
        pool = _async_sentinel_pool(**options)
    else:
        pool = aioredis.BlockingConnectionPool.from_url(url, **options)
    return aioredis.Redis(connection_pool=pool)


def _async_sentinel_pool(**options):
    from redis.asyncio.connection import BlockingConnectionPool
    from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

    class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
        """As the synchronous one: Sentinel's master discovery, the blocking pool's wait."""

    sentinels = Sentinel(settings.REDIS_SENTINELS, sentinel_kwargs=_sentinel_kwargs())
    return BlockingSentinelConnectionPool(settings.REDIS_SENTINEL_MASTER, sentinels, **_master_options(), **options)


# None: the Sentinel master (REDIS_URL then only names it).
_async_clients: PerLoop = PerLoop(lambda: _new_async_client(None if sentinel_enabled() else _url()))


def async_client():
    """This event loop's `redis.asyncio.Redis`. Blocking pub/sub reads (`get_message(timeout=None)`)
    are not bound by its socket timeout; a pub/sub holds one of its connections while it lives."""
    return _async_clients.get()


def async_cache_client():
    """This loop's client when the default cache is Redis (its entries are then readable with
    `cache_key` and `cache_loads`), else None."""
    return async_client() if cache_is_redis() else None


def async_client_for(url: str):
    """A client of its own, with the same policy, on another Redis (tests: an unreachable one).
    The caller closes it (`await client.aclose(close_connection_pool=True)`)."""
    return _new_async_client(url)


async def aclose_async_client() -> None:
    """Close this event loop's client (a short-lived loop, e.g. one `async_to_sync` call in a task,
    before it ends)."""
    client = _async_clients.pop()
    if client is not None:
        await client.aclose(close_connection_pool=True)


# --- The channel layer ------------------------------------------------------------------------


class _ReportsLostSubscriptions:
    """Mixed into the channel layer's redis-py connection class: reports the loss of a connection
    that carries subscriptions to core.layer_links, which closes the sockets that may have missed
    events (4503) so that their clients resume from the database.

    Which connection carries subscriptions: the one a redis-py `PubSub` holds, which registers a
    connect callback on it (`register_connect_callback`, to subscribe again after a reconnect; the
    only user of that hook here). Lost: `disconnect()` of that connection while it was connected,
    whatever the reason (a read or health check failed, Redis restarted, the layer was flushed).
    Both are public redis-py methods; docs/upgrading.md names this dependency."""

    carries_subscriptions = False

    def register_connect_callback(self, callback):
        self.carries_subscriptions = True
        super().register_connect_callback(callback)

    def deregister_connect_callback(self, callback):
        super().deregister_connect_callback(callback)
        self.carries_subscriptions = False

    async def disconnect(self, *args, **kwargs):
        if self.carries_subscriptions and self.is_connected:
            # Before anything awaits: no event of a new connection can reach a socket first.
            layer_links.lost()
        return await super().disconnect(*args, **kwargs)


_layer_connection_classes: dict[type, type] = {}


def _reporting(base: type) -> type:
    if base not in _layer_connection_classes:
        _layer_connection_classes[base] = type(f"Layer{base.__name__}", (_ReportsLostSubscriptions, base), {})
    return _layer_connection_classes[base]


def _layer_host(host: dict) -> dict:
    """The layer's host dict with the policy and a connection class that reports lost subscriptions.

    An `address` (URL) is parsed here into the pool's keyword arguments, because redis-py's
    `ConnectionPool.from_url` lets the URL's scheme (rediss://, unix://) override a given
    `connection_class`; channels-redis then builds `ConnectionPool(**host)` from them."""
    from redis.asyncio.connection import Connection, parse_url
    from redis.asyncio.sentinel import SentinelManagedConnection

    host = {**host, "retry": _async_retry(), "health_check_interval": _policy()["health_check_interval"]}
    if "address" in host:
        host = {**parse_url(host.pop("address")), **host}
    default = SentinelManagedConnection if "master_name" in host else Connection
    host["connection_class"] = _reporting(host.get("connection_class", default))
    return host


def channel_layer_hosts(host: dict) -> list[dict]:
    """The layer's hosts in channels-redis's forms, from the one host of settings.CHANNEL_LAYERS:
    Sentinel's (`sentinels` + `master_name`), or one per CHANNEL_LAYER_REDIS_URLS entry (else the
    host's own `address`), each through `_layer_host` (the policy and the reporting connection class)."""
    options = {key: value for key, value in host.items() if key != "address"}
    if sentinel_enabled():
        return [_layer_host({**options, **_master_options(), "sentinels": settings.REDIS_SENTINELS,
                             "master_name": settings.REDIS_SENTINEL_MASTER, "sentinel_kwargs": _sentinel_kwargs()})]
    if "address" not in host:
        return [_layer_host(host)]
    return [_layer_host({**options, "address": url}) for url in settings.CHANNEL_LAYER_REDIS_URLS or [host["address"]]]


class RedisPubSubChannelLayer(_ChannelsRedisPubSubLayer):
    """channels-redis's pub/sub layer (CHANNEL_LAYERS) whose connections retry and health-check
    like every other client here, follow the Sentinel master or shard over CHANNEL_LAYER_REDIS_URLS,
    and report a lost subscriber connection (core.layer_links). Only the documented `hosts` argument
    is changed (`channel_layer_hosts`): channels-redis gives each host dict to redis-py's
    `ConnectionPool(**host)`, or the sentinel form to `SentinelConnectionPool`, which take `retry`,
    `health_check_interval` and `connection_class`."""

    def __init__(self, *args, hosts=None, **kwargs):
        hosts = [each for host in (hosts or []) for each in
                 (channel_layer_hosts(host) if isinstance(host, dict) else [host])] or None
        super().__init__(*args, hosts=hosts, **kwargs)
