"""hotline settings.

This is the only module that reads the environment. Every variable read here is
listed with its default in docs/configuration.md; keep the two in step.
Sections are grouped by app so that each app's settings live together.
"""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

_env = os.environ


def env_str(name: str, default: str = "") -> str:
    return _env.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = _env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = _env.get(name)
    value = default if raw is None or raw.strip() == "" else int(raw)
    if minimum is not None and value < minimum:
        raise SystemExit(f"hotline: {name}={value} is below its minimum {minimum}")
    if maximum is not None and value > maximum:
        raise SystemExit(f"hotline: {name}={value} is above its maximum {maximum}")
    return value


def env_float(name: str, default: float) -> float:
    raw = _env.get(name)
    return default if raw is None or raw.strip() == "" else float(raw)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in _env.get(name, default).split(",") if item.strip()]


# --- Core -------------------------------------------------------------------

DEFAULT_SECRET_KEY = "hotline-insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
# `python -m config.serve` (./scripts/run, the Procfile) refuses to bind a non-loopback address with
# DEBUG on unless this is set: DEBUG shows tracebacks and may mount the auth4app simulator.
DEBUG_ALLOW_NON_LOOPBACK = env_bool("DEBUG_ALLOW_NON_LOOPBACK", False)

if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    # A clear refusal, not a traceback: SystemExit prints the message and exits 1.
    raise SystemExit(
        "hotline: refusing to start with DEBUG off and the built-in SECRET_KEY. "
        "Set SECRET_KEY to a long random value (or DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
PORT = env_int("PORT", 8000, minimum=1, maximum=65535)

INSTALLED_APPS = [
    "daphne",
    "config.apps.HotlineAdminConfig",  # django.contrib.admin whose site requires a TOTP device
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "phonenumber_field",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core",
    "accounts",
    "sms",
    "otp",
    "chat",
    "auth4app",
    "social",
    "pages",
]

MIDDLEWARE = [
    # First, so that it times and counts every response, those of the middleware below included.
    "core.metrics.HttpMetricsMiddleware",
    # Before anything reads the body: one size cap (DATA_UPLOAD_MAX_MEMORY_SIZE) for every view, DRF's too.
    "core.request_limits.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Django's default (2.5 MB), stated: the one cap on every request body (core.request_limits); an
# avatar upload (AVATAR_MAX_BYTES, 2 MiB) fits with its multipart envelope.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the background thread and requests share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so server processes started by the tests share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Under ASGI every sync view and database_sync_to_async call may run on another thread, so
    # Django's persistent connections (CONN_MAX_AGE) would leak one per thread. psycopg's pool
    # keeps a bounded set per process instead of one new connection per request or chat message.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env_int("DB_POOL_MAX_SIZE", 10, minimum=1),
        # Under overload, turn a request away (JSON 503) after a short wait rather than queueing it.
        "timeout": 3,
        # After a failed connect psycopg_pool retries after 1, 2, 4, 8... s for `reconnect_timeout`
        # (300 s by default), so a 2 s PostgreSQL restart could leave the pool waiting 4 s or more
        # to try again while every request times out at 3 s. Capping the retry window at 4 s keeps
        # the gap between tries at or under 2 s; once it gives up, the next request starts a new try.
        "reconnect_timeout": 4,
    }
    # With a pool, Django passes this on as the pool's `check`: every connection handed out is checked
    # first (one empty query), so idle connections that a PostgreSQL restart broke are replaced
    # instead of failing a request or a task.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

TIME_ZONE = "UTC"
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Uploaded files (avatars) go through Django's storage API; with the file system storage they are
# served by accounts.views.avatar_file under MEDIA_URL.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Plain storage (not manifest): tests and the run command work without collectstatic ordering traps;
    # WhiteNoise still serves with DEBUG off.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Files browsers ask for at the site root (/favicon.ico), served by WhiteNoise like static files.
WHITENOISE_ROOT = BASE_DIR / "webroot"
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# On every HTML response (core.csp): scripts and styles from our own origin only, never inline.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

# HTTPS. Production-safe defaults whenever DEBUG is off; `manage.py check --deploy` passes with the
# production settings of docs/configuration.md (tests/core/test_production_guards.py runs it).


def env_proxy_ssl_header(name: str, default: str) -> tuple[str, str] | None:
    """`Header-Name: value` (e.g. `X-Forwarded-Proto: https`) as Django's SECURE_PROXY_SSL_HEADER;
    `off` for none."""
    raw = (_env.get(name) or "").strip() or default
    if not raw or raw.lower() == "off":
        return None
    header, sep, value = raw.partition(":")
    if not sep or not header.strip() or not value.strip():
        raise SystemExit(f"hotline: {name}={raw!r} must look like 'X-Forwarded-Proto: https' (or be 'off')")
    return "HTTP_" + header.strip().upper().replace("-", "_"), value.strip()


# Behind a TLS proxy (TRUSTED_PROXY_COUNT > 0) the proxy's X-Forwarded-Proto says whether the client
# used HTTPS, so cookies (the refresh cookie too) are marked Secure and HSTS is sent.
SECURE_PROXY_SSL_HEADER = env_proxy_ssl_header(
    "SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto: https" if env_int("TRUSTED_PROXY_COUNT", 0) else ""
)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# Sent only on HTTPS responses (SecurityMiddleware), so a plain-HTTP development server never pins itself.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe /livez, /readyz and /healthz, and Prometheus scrapes /metrics, over plain HTTP
# on the private network.
SECURE_REDIRECT_EXEMPT = [r"^(livez|readyz|healthz|metrics)$"]

# Admin second factor (django-otp): the issuer shown by authenticator apps.
OTP_TOTP_ISSUER = "hotline"

# --- Languages (docs/i18n.md) -------------------------------------------------

USE_I18N = True
LANGUAGE_CODE = "en"
# The names are shown in the admin (a user's language); the page header shows each in its own name.
LANGUAGES = [
    ("en", _("English")),
    ("fa", _("Persian")),
    ("zh-hans", _("Simplified Chinese")),
    ("ru", _("Russian")),
]
# The project's catalogs, compiled .mo files committed beside the .po files (./scripts/messages).
LOCALE_PATHS = [BASE_DIR / "locale"]
# The header's language switcher (Django's set_language) remembers the choice for a year, not a session.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Language of an SMS to a number of one of these regions when its user has chosen none.
SMS_LANGUAGE_BY_REGION = {"IR": "fa", "CN": "zh-hans", "RU": "ru"}

# --- Redis: channel layer, cache, task broker --------------------------------

REDIS_URL = env_str("REDIS_URL", "")


def env_host_ports(name: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as pairs; anything else stops the server with the entry named."""
    pairs = []
    for item in env_list(name):
        host, _sep, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SystemExit(f"hotline: {name}: {item!r} is not host:port")
        pairs.append((host.strip("[]"), int(port)))
    return pairs


# Redis Sentinel (docs/deployment.md#redis-with-sentinel): every Redis client (cache, limits, presence,
# the auth4app store, the channel layer) and the Celery broker ask these sentinels for the master
# named REDIS_SENTINEL_MASTER and follow it through a failover (core.redis_clients).
REDIS_SENTINELS = env_host_ports("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = env_str("REDIS_SENTINEL_MASTER")
REDIS_SENTINEL_PASSWORD = env_str("REDIS_SENTINEL_PASSWORD")
# The channel layer's own Redis servers: channels-redis shards channels and groups over them by a
# hash of the name. Unset: the layer uses REDIS_URL (or the Sentinel master) like everything else.
CHANNEL_LAYER_REDIS_URLS = env_list("CHANNEL_LAYER_REDIS_URLS")


def _redis_config_problem() -> str | None:
    """A Redis configuration that would run, but not as the operator meant, refuses to start: a
    client left on one fixed server while the rest follows Sentinel would break at the first failover."""
    from urllib.parse import urlsplit

    if REDIS_SENTINELS and not REDIS_SENTINEL_MASTER:
        return "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: name the master the sentinels monitor"
    if REDIS_SENTINEL_MASTER and not REDIS_SENTINELS:
        return "REDIS_SENTINEL_MASTER is set but REDIS_SENTINELS is not: list the sentinels as host:port,host:port"
    if REDIS_SENTINELS:
        if REDIS_URL:
            url = urlsplit(REDIS_URL)
            if url.scheme == "rediss":
                return ("REDIS_URL=rediss://... with REDIS_SENTINELS: TLS to a Sentinel-discovered master is not "
                        "supported (the broker's sentinel transport would not use it); use a private network")
            if url.scheme != "redis" or url.hostname != REDIS_SENTINEL_MASTER.lower() or url.port:
                return (f"REDIS_URL={url.scheme}://{url.hostname}{':' + str(url.port) if url.port else ''}/... names one "
                        "fixed Redis, which would not follow a Sentinel failover. With REDIS_SENTINELS, unset REDIS_URL, "
                        f"or give it the master's name as its host (redis://:<password>@{REDIS_SENTINEL_MASTER}/<db>) "
                        "for the password and database number")
        if CHANNEL_LAYER_REDIS_URLS:
            return ("CHANNEL_LAYER_REDIS_URLS names fixed Redis servers, which would not follow a Sentinel failover: "
                    "unset it (with Sentinel the channel layer uses the Sentinel master) or unset REDIS_SENTINELS")
    if CHANNEL_LAYER_REDIS_URLS:
        if not REDIS_URL:
            return ("CHANNEL_LAYER_REDIS_URLS is set but REDIS_URL is not: the cache, limits and broker would stay in "
                    "this one process while the channel layer spans several; set REDIS_URL too")
        for url in CHANNEL_LAYER_REDIS_URLS:
            if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
                return f"CHANNEL_LAYER_REDIS_URLS: {url!r} is not a redis://, rediss:// or unix:// URL"
    return None


if _redis_problem := _redis_config_problem():
    raise SystemExit(f"hotline: {_redis_problem}")
if REDIS_SENTINELS and not REDIS_URL:
    # The master's name in place of a host: Redis mode is on, and the database is 0.
    REDIS_URL = f"redis://{REDIS_SENTINEL_MASTER}/0"
EMBEDDED_MODE = not REDIS_URL

# Every Redis client of a process comes from core.redis_clients: one synchronous client per process
# (Django's cache, the rate limits, chat's send limit) and one asynchronous client per event loop
# (the socket handshake, presence, the auth4app store and push), on blocking pools of these sizes.
# Every client, the channel layer's and the broker's included, retries connection errors and
# health-checks idle connections (core/redis_clients.py says why and how).
REDIS_CLIENTS = {
    "sync_max_connections": env_int("REDIS_MAX_CONNECTIONS", 500, minimum=1),
    "async_max_connections": env_int("REDIS_ASYNC_MAX_CONNECTIONS", 400, minimum=1),
    # Seconds a command waits for a free connection of a full pool before it fails.
    "pool_timeout": 10,
    # Seconds to wait for a reply: request threads give up sooner than the event loop's clients,
    # which carry connect bursts (presence, handshakes) and match the channel layer's 15 s.
    "sync_socket_timeout": 5,
    "async_socket_timeout": 15,
    "connect_timeout": 5,
    # Connection errors are retried this many times, each on a new connection, after 50-100 ms, then
    # twice as long each time (up to 1 s): 3 retries wait 0.35-0.7 s in all.
    "retries": env_int("REDIS_RETRIES", 3, minimum=0, maximum=20),
    # A connection idle longer than this is PINGed (and replaced if dead) before it is used.
    "health_check_interval": env_int("REDIS_HEALTH_CHECK_SECONDS", 15, minimum=0),
}

if REDIS_URL:
    # The pub/sub layer: the core layer silently drops bursts over its per-process capacity
    # (see docs/realtime.md). redis-py 8's pool size (100) and socket timeout (5 s, equal to
    # the layer's blocking read) both break under connect bursts, so both are raised here.
    # core.redis_clients' subclass adds the retry and health-check policy to its connections.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "core.redis_clients.RedisPubSubChannelLayer",
            "CONFIG": {
                # With Sentinel or CHANNEL_LAYER_REDIS_URLS, core.redis_clients' layer turns this one
                # host into the Sentinel master's or into one host per URL (channels-redis's forms).
                "hosts": [{"address": REDIS_URL, "max_connections": 2000, "socket_timeout": 15}],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "hotline"),
            },
        }
    }
    # Django's own Redis cache; its connections come from the process's one pool (pool_class is the
    # documented hook: core.redis_clients.ProcessPool hands out that pool whatever Django asks).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "hotline"),
            "OPTIONS": {"pool_class": "core.redis_clients.ProcessPool"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hotline"}}

# Celery: Redis as broker when configured; otherwise tasks run on an in-process thread
# pool after the transaction commits (core.background), never inside the request.
CELERY_BROKER_URL = REDIS_URL or "memory://"
if REDIS_SENTINELS:
    # kombu's sentinel transport: it asks each sentinel in turn for the master and reconnects to
    # the new one after a failover; the database and password are REDIS_URL's.
    from urllib.parse import urlsplit as _urlsplit

    _broker = _urlsplit(REDIS_URL)
    _broker_auth = f":{_broker.password}@" if _broker.password else ""
    CELERY_BROKER_URL = ";".join(
        f"sentinel://{_broker_auth}{host}:{port}{_broker.path or '/0'}" for host, port in REDIS_SENTINELS)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=10),
    # kombu's Redis connections get the same health checks; Celery reconnects to the broker by itself.
    "health_check_interval": REDIS_CLIENTS["health_check_interval"],
}
if REDIS_SENTINELS:
    CELERY_BROKER_TRANSPORT_OPTIONS["master_name"] = REDIS_SENTINEL_MASTER
    CELERY_BROKER_TRANSPORT_OPTIONS["sentinel_kwargs"] = {
        "socket_timeout": REDIS_CLIENTS["connect_timeout"], "password": REDIS_SENTINEL_PASSWORD or None}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "hotline")

# --- REST API ----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "hotline API",
    "DESCRIPTION": "Phone login by SMS code or live messenger confirmation, sessions and chat.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The seed-compatible /proxy/auth/* endpoints are plain async Django views: described in auth4app/schema.py.
    "PREPROCESSING_HOOKS": ["auth4app.schema.add_proxy_endpoints"],
    # The error answers every operation shares (401, 400, 404, 413, ...), with their `code` (core/schema.py).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "core.schema.document_errors"],
    # Two fields are called `kind` (chat rooms, social providers): each enum gets a name of its own,
    # chat's the one it had before.
    "ENUM_NAME_OVERRIDES": {
        "Auth4appErrorCodeEnum": "auth4app.schema.ERROR_CODES",
        "KindEnum": ["direct", "group"],
        "SocialProviderKindEnum": "social.serializers.PROVIDER_KINDS",
    },
    # core.converters' `dbid`: a database id (1 .. 2**63-1; larger ones match no route).
    "PATH_CONVERTER_OVERRIDES": {"dbid": {"type": "integer", "format": "int64", "minimum": 1}},
}

JWT_ACCESS_MINUTES = env_int("JWT_ACCESS_MINUTES", 5, minimum=1)
JWT_REFRESH_DAYS = env_int("JWT_REFRESH_DAYS", 14, minimum=1)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=JWT_REFRESH_DAYS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- Accounts and sessions -----------------------------------------------------

TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION", "").upper() or None
PHONE_ALLOWED_REGIONS = [r.upper() for r in env_list("PHONE_ALLOWED_REGIONS")]
PHONENUMBER_DB_FORMAT = "E164"
PHONENUMBER_DEFAULT_REGION = PHONE_DEFAULT_REGION
SESSION_LAST_SEEN_INTERVAL_SECONDS = env_int("SESSION_LAST_SEEN_INTERVAL_SECONDS", 60, minimum=1)
WS_TICKET_TTL_SECONDS = 30
WS_TICKETS_PER_USER_PER_MINUTE = env_int("WS_TICKETS_PER_USER_PER_MINUTE", 60, minimum=1)
# Safety net behind the session.revoked event: each session-bound socket re-checks its session this often.
SESSION_SOCKET_RECHECK_SECONDS = 30

# Profiles (accounts.profiles): avatars and email verification links.
AVATAR_MAX_BYTES = 2 * 1024 * 1024
AVATAR_SIZE = 256
EMAIL_VERIFICATION_HOURS = 24
# Email goes through Django's email backend: the console backend unless EMAIL_HOST is set (SMTP).
EMAIL_HOST = env_str("EMAIL_HOST")
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "hotline <noreply@localhost>")

# --- OTP (otp app) -------------------------------------------------------------

OTP_LENGTH = env_int("OTP_LENGTH", 6, minimum=4, maximum=10)
OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300, minimum=30, maximum=600)
OTP_MAX_ATTEMPTS = env_int("OTP_MAX_ATTEMPTS", 5, minimum=1)
OTP_RESEND_SECONDS = env_int("OTP_RESEND_SECONDS", 60, minimum=0)
OTP_SENDS_PER_NUMBER_PER_HOUR = env_int("OTP_SENDS_PER_NUMBER_PER_HOUR", 5, minimum=1)
OTP_SENDS_PER_IP_PER_HOUR = env_int("OTP_SENDS_PER_IP_PER_HOUR", 20, minimum=1)
OTP_FAILURES_PER_NUMBER_PER_HOUR = env_int("OTP_FAILURES_PER_NUMBER_PER_HOUR", 20, minimum=1)
OTP_FAILURES_PER_IP_PER_HOUR = env_int("OTP_FAILURES_PER_IP_PER_HOUR", 30, minimum=1)
OTP_GLOBAL_SENDS_PER_HOUR = env_int("OTP_GLOBAL_SENDS_PER_HOUR", 1000, minimum=1)
# Key of the HMAC that binds a code to its challenge; separate from SECRET_KEY so it can rotate alone.
OTP_HMAC_KEY = env_str("OTP_HMAC_KEY", SECRET_KEY)

# --- SMS gateway (sms app) -----------------------------------------------------

SMS_PROVIDER = env_str("SMS_PROVIDER", "console")
SMS_FALLBACK_PROVIDERS = env_list("SMS_FALLBACK_PROVIDERS")
# console and locmem send nobody an SMS (console writes codes to the log): with DEBUG off they are
# refused unless this says they are wanted on purpose (a demo box, the test suite's servers).
SMS_ALLOW_DEV_PROVIDER = env_bool("SMS_ALLOW_DEV_PROVIDER", False)
_dev_sms_providers = sorted({SMS_PROVIDER, *SMS_FALLBACK_PROVIDERS} & {"console", "locmem"})
if not DEBUG and _dev_sms_providers and not SMS_ALLOW_DEV_PROVIDER:
    raise SystemExit(
        f"hotline: refusing to start with DEBUG off and the {'/'.join(_dev_sms_providers)} SMS provider: "
        "login codes would go to the server log and nobody would get an SMS. Set SMS_PROVIDER to a real "
        "provider (docs/sms.md), or SMS_ALLOW_DEV_PROVIDER=1 if this is on purpose."
    )
SMS_MAX_ATTEMPTS_PER_PROVIDER = env_int("SMS_MAX_ATTEMPTS_PER_PROVIDER", 3, minimum=1)
SMS_RETRY_BASE_SECONDS = env_float("SMS_RETRY_BASE_SECONDS", 2.0)
SMS_RETRY_MAX_SECONDS = env_float("SMS_RETRY_MAX_SECONDS", 60.0)
SMS_HTTP_TIMEOUT_SECONDS = env_float("SMS_HTTP_TIMEOUT_SECONDS", 10.0)
# A worker's claim on a message it is sending; renewed every third of it while the provider call runs
# (sms.leases), so it bounds how long a dead worker's message waits, not how long a call may take.
SMS_SENDING_LEASE_SECONDS = env_int("SMS_SENDING_LEASE_SECONDS", 15, minimum=3)
# How often beat takes back messages whose lease ran out and re-queues those whose task was lost. A
# dead worker's message goes out within SMS_SENDING_LEASE_SECONDS + this + one provider call.
SMS_OUTBOX_SWEEP_SECONDS = env_int("SMS_OUTBOX_SWEEP_SECONDS", 5, minimum=1)
SMS_OUTBOX_RETENTION_DAYS = env_int("SMS_OUTBOX_RETENTION_DAYS", 90, minimum=1)
# Key of the encryption of one-time codes waiting in the outbox (sms.crypto).
SMS_SECRET_KEY = env_str("SMS_SECRET_KEY", SECRET_KEY)
# Text of one-time code SMS per language; {code} and {minutes} are filled in. The outbox stores it with the
# code masked. Each must fit one SMS part with the longest code (sms.checks): 160 GSM-7 characters in
# English, 70 UCS-2 characters in Persian, Chinese and Russian. Chinese operators require the 【signature】.
SMS_OTP_TEXTS = {
    "en": env_str("SMS_OTP_TEXT", "Your hotline code is {code}. It expires in {minutes} min."),
    "fa": env_str("SMS_OTP_TEXT_FA", "کد ورود شما به hotline: {code}؛ این کد تا {minutes} دقیقه معتبر است."),
    "zh-hans": env_str("SMS_OTP_TEXT_ZH_HANS", "【hotline】您的登录验证码是{code}，{minutes}分钟内有效，请勿告诉他人。"),
    "ru": env_str("SMS_OTP_TEXT_RU", "Код для входа в hotline: {code}. Действует {minutes} мин."),
}
SMS_MAX_TEXT_LENGTH = 900
SMS_PROVIDERS = {
    "kavenegar": {
        "API_URL": env_str("KAVENEGAR_API_URL", "https://api.kavenegar.com"),
        "API_KEY": env_str("KAVENEGAR_API_KEY"),
        "SENDER": env_str("KAVENEGAR_SENDER"),
        "OTP_TEMPLATE": env_str("KAVENEGAR_OTP_TEMPLATE"),
    },
    "melipayamak": {
        "API_URL": env_str("MELIPAYAMAK_API_URL", "https://rest.payamak-panel.com"),
        "USERNAME": env_str("MELIPAYAMAK_USERNAME"),
        "PASSWORD": env_str("MELIPAYAMAK_PASSWORD"),
        "SENDER": env_str("MELIPAYAMAK_SENDER"),
        "OTP_BODY_ID": env_str("MELIPAYAMAK_OTP_BODY_ID"),
    },
    "parsianwebco": {
        "API_URL": env_str("PARSIANWEBCO_API_URL", "https://api.parsianwebco.ir"),
        "TOKEN": env_str("PARSIANWEBCO_TOKEN"),
        "OTP_TEMPLATE_ID": env_str("PARSIANWEBCO_OTP_TEMPLATE_ID"),
    },
    "cloopen": {
        "API_URL": env_str("CLOOPEN_API_URL", "https://app.cloopen.com:8883"),
        "ACCOUNT_SID": env_str("CLOOPEN_ACCOUNT_SID"),
        "AUTH_TOKEN": env_str("CLOOPEN_AUTH_TOKEN"),
        "APP_ID": env_str("CLOOPEN_APP_ID"),
        "OTP_TEMPLATE_ID": env_str("CLOOPEN_OTP_TEMPLATE_ID", "1"),
    },
    "twilio": {
        "API_URL": env_str("TWILIO_API_URL", "https://api.twilio.com"),
        "ACCOUNT_SID": env_str("TWILIO_ACCOUNT_SID"),
        "AUTH_TOKEN": env_str("TWILIO_AUTH_TOKEN"),
        "FROM": env_str("TWILIO_FROM"),
        "MESSAGING_SERVICE_SID": env_str("TWILIO_MESSAGING_SERVICE_SID"),
    },
}

# --- Live phone confirmation (auth4app) ---------------------------------------

AUTH4APP_API_KEY = env_str("AUTH4APP_API_KEY")
# With no key the local simulator (devtools/auth4app_views.py at /dev/auth4app/) answers, but only
# with DEBUG on: with DEBUG off it is neither mounted nor willing to answer.
AUTH4APP_SIMULATOR = DEBUG and not AUTH4APP_API_KEY
AUTH4APP_API_URL = env_str(
    "AUTH4APP_API_URL",
    f"http://127.0.0.1:{PORT}/dev/auth4app" if AUTH4APP_SIMULATOR else "https://api.auth4app.com",
).rstrip("/")
AUTH4APP_POLL_INTERVAL = env_float("AUTH4APP_POLL_INTERVAL", 1.0)
if not 0.05 <= AUTH4APP_POLL_INTERVAL <= 60:
    raise SystemExit(f"hotline: AUTH4APP_POLL_INTERVAL={AUTH4APP_POLL_INTERVAL} must be between 0.05 and 60 seconds")
AUTH4APP_CODE_TTL = env_int("AUTH4APP_CODE_TTL", 300, minimum=10)
AUTH4APP_HTTP_TIMEOUT_SECONDS = env_float("AUTH4APP_HTTP_TIMEOUT_SECONDS", 5.0)
# Upstream requests in flight per process (the HTTP pool's size); more wait their turn.
AUTH4APP_MAX_CONCURRENT_REQUESTS = env_int("AUTH4APP_MAX_CONCURRENT_REQUESTS", 32, minimum=1, maximum=1000)
AUTH4APP_CODES_PER_IP_PER_HOUR = env_int("AUTH4APP_CODES_PER_IP_PER_HOUR", 20, minimum=1)
AUTH4APP_CODES_PER_NUMBER_PER_HOUR = env_int("AUTH4APP_CODES_PER_NUMBER_PER_HOUR", 5, minimum=1)
# Every upstream code costs money: a cap on all of them, whoever asks (a circuit breaker on the bill).
AUTH4APP_CODES_PER_HOUR = env_int("AUTH4APP_CODES_PER_HOUR", 1000, minimum=1)
# A login nobody asked about (no open socket, no start or result request) for this long is no longer polled.
AUTH4APP_IDLE_SECONDS = 30
# A login whose upstream polls keep failing for this long ends with status "error".
AUTH4APP_ERROR_GIVE_UP_SECONDS = 30

# --- Social login (social app) -------------------------------------------------

# With DEBUG on and no keys, local simulators answer instead of Weibo and WeChat (devtools/social_*.py,
# mounted at /dev/weibo/ and /dev/wechat/); with DEBUG off they are neither mounted nor willing to answer.
WEIBO_CLIENT_ID = env_str("WEIBO_CLIENT_ID")
WEIBO_SIMULATOR = DEBUG and not WEIBO_CLIENT_ID
if WEIBO_SIMULATOR:
    WEIBO_CLIENT_ID = "hotline-dev-weibo"
WEIBO_CLIENT_SECRET = env_str("WEIBO_CLIENT_SECRET", "hotline-dev-weibo-secret" if WEIBO_SIMULATOR else "")
WEIBO_REDIRECT_URI = env_str("WEIBO_REDIRECT_URI", f"http://127.0.0.1:{PORT}/login/weibo/" if WEIBO_SIMULATOR else "")
WEIBO_API_URL = env_str(
    "WEIBO_API_URL", f"http://127.0.0.1:{PORT}/dev/weibo" if WEIBO_SIMULATOR else "https://api.weibo.com"
).rstrip("/")
WECHAT_MP_APPID = env_str("WECHAT_MP_APPID")
WECHAT_MP_SIMULATOR = DEBUG and not WECHAT_MP_APPID
if WECHAT_MP_SIMULATOR:
    WECHAT_MP_APPID = "wxhotlinedev0000"
WECHAT_MP_SECRET = env_str("WECHAT_MP_SECRET", "hotline-dev-wechat-secret" if WECHAT_MP_SIMULATOR else "")
WECHAT_API_URL = env_str(
    "WECHAT_API_URL", f"http://127.0.0.1:{PORT}/dev/wechat" if WECHAT_MP_SIMULATOR else "https://api.weixin.qq.com"
).rstrip("/")


def _social_config_problem() -> str | None:
    """Half a provider's keys is a mistake, not "off": say so at start instead of 404ing its logins."""
    weibo = {"WEIBO_CLIENT_ID": WEIBO_CLIENT_ID, "WEIBO_CLIENT_SECRET": WEIBO_CLIENT_SECRET,
             "WEIBO_REDIRECT_URI": WEIBO_REDIRECT_URI}
    wechat = {"WECHAT_MP_APPID": WECHAT_MP_APPID, "WECHAT_MP_SECRET": WECHAT_MP_SECRET}
    for group in (weibo, wechat):
        if any(group.values()) and not all(group.values()):
            missing = ", ".join(name for name, value in group.items() if not value)
            return f"{missing} must be set too (or unset the provider's other keys)"
    if WEIBO_CLIENT_ID and not WEIBO_REDIRECT_URI.startswith(("https://", "http://")):
        return "WEIBO_REDIRECT_URI must be an absolute http(s) URL (the one registered with Weibo)"
    if not DEBUG:
        # The code in the redirect and the secret sent to the API must not cross the network in clear.
        loopback = ("http://127.0.0.1", "http://localhost", "http://[::1]")
        for name, url in (("WEIBO_REDIRECT_URI", WEIBO_REDIRECT_URI), ("WEIBO_API_URL", WEIBO_API_URL),
                          ("WECHAT_API_URL", WECHAT_API_URL)):
            if url.startswith("http://") and not url.startswith(loopback):
                return f"{name} must use https with DEBUG off"
    return None


if _social_problem := _social_config_problem():
    raise SystemExit(f"hotline: social login: {_social_problem}")

# Every call to Weibo or WeChat gives up after this long (502 provider_error), never hanging a request.
SOCIAL_HTTP_TIMEOUT_SECONDS = 5.0
# A Weibo login's `state` and an unbound identity's bind token live this long (the issue's 10 minutes).
SOCIAL_STATE_TTL_SECONDS = 600
SOCIAL_BIND_TTL_SECONDS = 600
SOCIAL_STARTS_PER_IP_PER_HOUR = env_int("SOCIAL_STARTS_PER_IP_PER_HOUR", 60, minimum=1)
SOCIAL_CALLBACKS_PER_IP_PER_HOUR = env_int("SOCIAL_CALLBACKS_PER_IP_PER_HOUR", 30, minimum=1)
SOCIAL_LOGINS_PER_IP_PER_HOUR = env_int("SOCIAL_LOGINS_PER_IP_PER_HOUR", 30, minimum=1)
SOCIAL_BINDS_PER_IP_PER_HOUR = env_int("SOCIAL_BINDS_PER_IP_PER_HOUR", 30, minimum=1)

# --- Chat (chat app) -----------------------------------------------------------

CHAT_MAX_TEXT_LENGTH = 4000
CHAT_MESSAGES_PER_WINDOW = env_int("CHAT_MESSAGES_PER_WINDOW", 20, minimum=1)
CHAT_RATE_WINDOW_SECONDS = env_int("CHAT_RATE_WINDOW_SECONDS", 10, minimum=1)
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 10, minimum=1)
# Every allowed frame fits: the largest is a message.send of CHAT_MAX_TEXT_LENGTH characters sent as
# ASCII-escaped JSON, 12 bytes per character outside the BMP (`\ud83d\ude00`): 48,000 bytes, plus a
# 64-character client_id (384 escaped). Larger frames are closed with 4413 (docs/websocket.md).
CHAT_MAX_FRAME_BYTES = 64 * 1024
CHAT_SEND_QUEUE_LIMIT = env_int("CHAT_SEND_QUEUE_LIMIT", 1000, minimum=10)
CHAT_PRESENCE_TTL_SECONDS = env_int("CHAT_PRESENCE_TTL_SECONDS", 60, minimum=5)
# Each server process's liveness key lives this long (renewed every quarter of it): the sockets of a
# killed process stop counting toward CHAT_MAX_SOCKETS_PER_USER within this (chat.presence).
CHAT_PRESENCE_PROCESS_TTL_SECONDS = env_int("CHAT_PRESENCE_PROCESS_TTL_SECONDS", 8, minimum=2)
# A subscribe with `after` replays at most this many messages, then says `replay.more`.
CHAT_REPLAY_LIMIT = env_int("CHAT_REPLAY_LIMIT", 200, minimum=1, maximum=1000)
# Subscribes per socket: a burst of this many, then this many per second (a token bucket).
CHAT_SUBSCRIBE_BURST = env_int("CHAT_SUBSCRIBE_BURST", 200, minimum=1)
CHAT_SUBSCRIBES_PER_SECOND = env_float("CHAT_SUBSCRIBES_PER_SECOND", 5.0)
# A socket whose server-side write buffer stays full this long (the client does not read) is closed 4408.
CHAT_SLOW_READER_SECONDS = env_float("CHAT_SLOW_READER_SECONDS", 10.0)
# Per user, across processes: look-ups by mobile number, rooms created, member changes (per hour).
CHAT_NUMBER_LOOKUPS_PER_HOUR = env_int("CHAT_NUMBER_LOOKUPS_PER_HOUR", 30, minimum=1)
CHAT_ROOMS_PER_HOUR = env_int("CHAT_ROOMS_PER_HOUR", 60, minimum=1)
CHAT_MEMBER_CHANGES_PER_HOUR = env_int("CHAT_MEMBER_CHANGES_PER_HOUR", 300, minimum=1)
CHAT_EDIT_WINDOW_SECONDS = 48 * 3600

# --- Housekeeping (Celery beat: the Procfile's `beat`) ---------------------------

def _every(seconds: float, task: str, **kwargs) -> dict:
    # A run expires after its interval: runs that piled up in the broker while no worker was up are
    # dropped, not all done at once.
    return {"task": task, "schedule": float(seconds), "kwargs": kwargs, "options": {"expires": float(seconds)}}


# Each task lives in its app's tasks.py; the management commands (sms_outbox, otp_purge_expired,
# flushexpiredsessions, clearsessions) do the same by hand. Intervals only (no crontab), so that the
# embedded mode can run this schedule on an in-process timer (core.background).
CELERY_BEAT_SCHEDULE = {
    "sms-outbox-requeue-expired": _every(SMS_OUTBOX_SWEEP_SECONDS, "sms.outbox_requeue_expired"),
    "sms-outbox-purge": _every(86400, "sms.outbox_purge"),
    "otp-purge-expired": _every(3600, "otp.purge_expired", older_than_seconds=86400),
    "accounts-flush-expired-sessions": _every(86400, "accounts.flush_expired_sessions", keep_days=30),
    "chat-presence-sweep": _every(CHAT_PRESENCE_TTL_SECONDS, "chat.presence_sweep"),
}
# Where beat keeps the time of each entry's last run.
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")

# --- Logging ---------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# `plain` (one line of text per record) or `json` (one JSON object per line, with the request id,
# user id and session id where known): for web, worker, beat and the access log alike (core.logging).
LOG_FORMAT = env_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise SystemExit(f"hotline: LOG_FORMAT={LOG_FORMAT!r} must be 'plain' or 'json'")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "core.logging.RedactSecretsFilter"},
        "context": {"()": "core.logging.LogContextFilter"},
    },
    "formatters": {
        "console": {"()": "core.logging.JsonFormatter"} if LOG_FORMAT == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "console", "filters": ["redact", "context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        # httpx logs every request URL at INFO; some provider URLs carry an API key in the path.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

if LOG_FORMAT == "json":
    # Python warnings (a library's UserWarning at start) become log records too, so that every line
    # is JSON; in plain mode they keep going to stderr as they are.
    import logging

    logging.captureWarnings(True)

# --- Metrics (Prometheus) and errors (Sentry) ----------------------------------------

# Off: every metric is a no-op and GET /metrics answers 404 (the bench measures the cost both ways).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# GET /metrics is never public: with neither of these set it answers 404. Each one set is required:
# a bearer token (`Authorization: Bearer <token>`, else 401) and/or client addresses or networks
# (`10.0.0.5,10.1.0.0/16`, the client address as TRUSTED_PROXY_COUNT reads it, else 403).
METRICS_TOKEN = env_str("METRICS_TOKEN")
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    raise SystemExit("hotline: METRICS_TOKEN must be at least 16 characters (a long random value)")


def env_networks(name: str) -> list:
    networks = []
    for item in env_list(name):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SystemExit(f"hotline: {name}: {item!r} is not an IP address or network") from None
    return networks


METRICS_ALLOWED_IPS = env_networks("METRICS_ALLOWED_IPS")
# Where the web processes and the worker of one host keep their metrics so that any one of them
# reports all (prometheus-client's multiprocess mode; the library reads the variable itself). Unset:
# each process reports its own only, which is right for the one process of the embedded mode.
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")

# Sentry: errors of web, worker and beat, redacted like the logs (core/sentry.py). Unset, the SDK is
# not even imported.
SENTRY_DSN = env_str("SENTRY_DSN")
if SENTRY_DSN:
    from core.sentry import sentry_init

    sentry_init(
        dsn=SENTRY_DSN,
        environment=env_str("SENTRY_ENVIRONMENT", "production"),
        release=env_str("SENTRY_RELEASE") or None,
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
        otp_texts=list(SMS_OTP_TEXTS.values()),
    )
