"""hotline settings.

This is the only module that reads the environment. Every variable read here is
listed with its default in docs/configuration.md; keep the two in step.
Sections are grouped by app so that each app's settings live together.
"""

from __future__ import annotations

import os
import sys
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
TESTING = "pytest" in sys.modules

if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY and not TESTING:
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
    "django.contrib.admin",
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
    "core",
    "accounts",
    "sms",
    "otp",
    "chat",
    "auth4app",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

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
    }
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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Plain storage (not manifest): tests and the run command work without collectstatic ordering traps;
    # WhiteNoise still serves with DEBUG off.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_int("TRUSTED_PROXY_COUNT", 0) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

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
EMBEDDED_MODE = not REDIS_URL

if REDIS_URL:
    # The pub/sub layer: the core layer silently drops bursts over its per-process capacity
    # (see docs/realtime.md). redis-py 8's pool size (100) and socket timeout (5 s, equal to
    # the layer's blocking read) both break under connect bursts, so both are raised here.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "max_connections": 2000, "socket_timeout": 15}],
                "prefix": env_str("CHANNEL_LAYER_PREFIX", "hotline"),
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "core.cache.ProcessWideRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "hotline"),
            "OPTIONS": {"max_connections": 500, "socket_timeout": 5},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hotline"}}

# Celery: Redis as broker when configured; otherwise tasks run on an in-process thread
# pool after the transaction commits (core.background), never inside the request.
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300, minimum=10)}
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "hotline")

# --- REST API ----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.SessionJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
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
# Safety net behind the session.revoked event: each session-bound socket re-checks its session this often.
SESSION_SOCKET_RECHECK_SECONDS = 30

# --- OTP (otp app) -------------------------------------------------------------

OTP_LENGTH = env_int("OTP_LENGTH", 6, minimum=4, maximum=10)
OTP_TTL_SECONDS = env_int("OTP_TTL_SECONDS", 300, minimum=30, maximum=600)
OTP_MAX_ATTEMPTS = env_int("OTP_MAX_ATTEMPTS", 5, minimum=1)
OTP_RESEND_SECONDS = env_int("OTP_RESEND_SECONDS", 60, minimum=0)
OTP_SENDS_PER_NUMBER_PER_HOUR = env_int("OTP_SENDS_PER_NUMBER_PER_HOUR", 5, minimum=1)
OTP_SENDS_PER_IP_PER_HOUR = env_int("OTP_SENDS_PER_IP_PER_HOUR", 20, minimum=1)
OTP_FAILURES_PER_NUMBER_PER_HOUR = env_int("OTP_FAILURES_PER_NUMBER_PER_HOUR", 20, minimum=1)
OTP_GLOBAL_SENDS_PER_HOUR = env_int("OTP_GLOBAL_SENDS_PER_HOUR", 1000, minimum=1)
# Key of the HMAC that binds a code to its challenge; separate from SECRET_KEY so it can rotate alone.
OTP_HMAC_KEY = env_str("OTP_HMAC_KEY", SECRET_KEY)

# --- SMS gateway (sms app) -----------------------------------------------------

SMS_PROVIDER = env_str("SMS_PROVIDER", "console")
SMS_FALLBACK_PROVIDERS = env_list("SMS_FALLBACK_PROVIDERS")
SMS_MAX_ATTEMPTS_PER_PROVIDER = env_int("SMS_MAX_ATTEMPTS_PER_PROVIDER", 3, minimum=1)
SMS_RETRY_BASE_SECONDS = env_float("SMS_RETRY_BASE_SECONDS", 2.0)
SMS_RETRY_MAX_SECONDS = env_float("SMS_RETRY_MAX_SECONDS", 60.0)
SMS_HTTP_TIMEOUT_SECONDS = env_float("SMS_HTTP_TIMEOUT_SECONDS", 10.0)
# A row left in `sending` longer than this lost its worker mid-call: it is failed, never resent
# (the provider may already have delivered it). Must exceed the longest provider call.
SMS_SENDING_LEASE_SECONDS = env_int("SMS_SENDING_LEASE_SECONDS", int(SMS_HTTP_TIMEOUT_SECONDS * 3) + 5, minimum=1)
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
# With no key the local simulator (auth4app/simulator_views.py at /dev/auth4app/) answers, but only
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
# A login nobody asked about (no open socket, no start or result request) for this long is no longer polled.
AUTH4APP_IDLE_SECONDS = 30
# A login whose upstream polls keep failing for this long ends with status "error".
AUTH4APP_ERROR_GIVE_UP_SECONDS = 30

# --- Chat (chat app) -----------------------------------------------------------

CHAT_MAX_TEXT_LENGTH = 4000
CHAT_MESSAGES_PER_WINDOW = env_int("CHAT_MESSAGES_PER_WINDOW", 20, minimum=1)
CHAT_RATE_WINDOW_SECONDS = env_int("CHAT_RATE_WINDOW_SECONDS", 10, minimum=1)
CHAT_MAX_SOCKETS_PER_USER = env_int("CHAT_MAX_SOCKETS_PER_USER", 10, minimum=1)
CHAT_MAX_FRAME_BYTES = 16 * 1024
CHAT_SEND_QUEUE_LIMIT = env_int("CHAT_SEND_QUEUE_LIMIT", 1000, minimum=10)
CHAT_PRESENCE_TTL_SECONDS = env_int("CHAT_PRESENCE_TTL_SECONDS", 60, minimum=5)

# --- Logging -------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
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
