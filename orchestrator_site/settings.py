"""Arbor settings: one module, everything from the environment (healthchecks style).

Embedded default: SQLite in ./var, no other server. Production: DATABASE_URL (PostgreSQL) and,
optionally, REDIS_URL. See docs/deployment.md for every variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def envlist(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


DEBUG = envbool("DEBUG", True)
DEV_SECRET_KEY = "arbor-insecure-development-key-change-me-in-production-0123456789"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
SECRET_KEY_MIN_LENGTH = 50  # Django's own security.W009 thresholds, enforced at start
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5
if not DEBUG:
    # the key signs sessions and django-q2's pickled jobs: a known key is remote code execution
    from django.core.exceptions import ImproperlyConfigured

    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set (a long random string) when DEBUG=0")
    if len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        raise ImproperlyConfigured(
            f"SECRET_KEY is too weak for DEBUG=0: use at least {SECRET_KEY_MIN_LENGTH} random characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])
VAR_DIR = Path(os.environ.get("ARBOR_VAR_DIR", BASE_DIR / "var"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_q",
    "axes",
    "csp",
    "tasks_app",
]

MIDDLEWARE = [
    "tasks_app.ops.middleware.ProbeMiddleware",  # /healthz /readyz /metrics: before host checks and SSL redirect
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tasks_app.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the lockout page
]

ROOT_URLCONF = "orchestrator_site.urls"
WSGI_APPLICATION = "orchestrator_site.wsgi.application"
ASGI_APPLICATION = "orchestrator_site.asgi.application"

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

# --- database -------------------------------------------------------------------------------
SQLITE_OPTIONS = {
    # WAL + NORMAL sync: ~9 ms less per commit than the rollback journal; IMMEDIATE transactions
    # take the write lock up front, so two writers never deadlock on a lock upgrade.
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}

DATABASE_URL = os.environ.get("DATABASE_URL", "")
CONN_MAX_AGE = envint("ARBOR_DB_CONN_MAX_AGE", 600)
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "arbor.sqlite3"),
            "CONN_MAX_AGE": 600,
            "CONN_HEALTH_CHECKS": True,
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"].setdefault("OPTIONS", {}).update(SQLITE_OPTIONS)
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")


def _process_role() -> str:
    """web (Daphne), worker, qcluster, migrate, ...: names connections and picks the pooling mode."""
    prog = sys.argv[0] if sys.argv else ""
    if os.path.basename(prog) == "manage.py" and len(sys.argv) > 1:
        return sys.argv[1].removeprefix("arbor_")
    if "daphne" in prog:
        return "web"
    return os.path.basename(prog) or "python"


# Daphne runs every request in a thread of its own, so persistent connections (CONN_MAX_AGE)
# would pile up, one per thread ever used (measured: 104 connections after 1,000 requests). Web
# processes therefore use a bounded per-process pool; single-threaded roles keep persistent ones.
ARBOR_DB_POOL_SIZE = envint("ARBOR_DB_POOL_SIZE", 10 if _process_role() == "web" else 0)
if IS_POSTGRES:
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", envint("ARBOR_DB_CONNECT_TIMEOUT", 5))
    _pg_options.setdefault(
        "application_name", os.environ.get("ARBOR_DB_APPLICATION_NAME") or f"arbor-{_process_role()}"[:63]
    )
    if ARBOR_DB_POOL_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        _pg_options["pool"] = {"min_size": 1, "max_size": ARBOR_DB_POOL_SIZE, "timeout": 10}


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts: passwords, login lockout (django-axes), password reset (docs/security.md) --
ARBOR_PASSWORD_MIN_LENGTH = envint("ARBOR_PASSWORD_MIN_LENGTH", 10)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": ARBOR_PASSWORD_MIN_LENGTH},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out (username, address) first
    "django.contrib.auth.backends.ModelBackend",
]
ARBOR_LOGIN_FAILURE_LIMIT = envint("ARBOR_LOGIN_FAILURE_LIMIT", 5)
ARBOR_LOGIN_COOLOFF_SECONDS = envint("ARBOR_LOGIN_COOLOFF_SECONDS", 300)
ARBOR_LOGIN_COOLOFF_MAX_SECONDS = envint("ARBOR_LOGIN_COOLOFF_MAX_SECONDS", 24 * 3600)
AXES_FAILURE_LIMIT = ARBOR_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "tasks_app.accounts.login_cooloff"  # doubles with every failure past the limit
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tasks_app.accounts.client_ip"  # REMOTE_ADDR, as the audit trail
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Password reset by mail is offered only when a mail server is configured (EMAIL_HOST).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_PORT = envint("EMAIL_PORT", 587)
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", True)
    DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "arbor@localhost")
ARBOR_PASSWORD_RESET = envbool("ARBOR_PASSWORD_RESET", bool(EMAIL_HOST))
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("ARBOR_STATIC_ROOT", BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- request limits (documented in docs/api.md) ---------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("ARBOR_MAX_BODY_BYTES", 5 * 1024 * 1024)
ARBOR_LIMITS = {
    "max_tasks_per_tree": envint("ARBOR_MAX_TASKS_PER_TREE", 10_000),
    "max_tree_depth": envint("ARBOR_MAX_TREE_DEPTH", 50),
    "max_dependencies_per_task": envint("ARBOR_MAX_DEPENDENCIES_PER_TASK", 1000),
    "max_json_depth": envint("ARBOR_MAX_JSON_DEPTH", 20),
    "max_batch_size": envint("ARBOR_MAX_BATCH_SIZE", 50),
    "max_resources_per_task": envint("ARBOR_MAX_RESOURCES_PER_TASK", 20),
    "max_name_length": 200,
}

# --- execution -------------------------------------------------------------------------------
ARBOR_WORKERS = envint("ARBOR_WORKERS", 2)
# How services wake workers after a commit: "q2" (django-q2 ORM broker), "inline" (run in this
# process after commit; tests and the CLI without a cluster) or "none" (tests drive workers).
ARBOR_DISPATCH = os.environ.get("ARBOR_DISPATCH", "q2")
ARBOR_LEASE_SECONDS = envfloat("ARBOR_LEASE_SECONDS", 10.0)
ARBOR_HEARTBEAT_SECONDS = envfloat("ARBOR_HEARTBEAT_SECONDS", 2.0)
ARBOR_REAPER_INTERVAL = envfloat("ARBOR_REAPER_INTERVAL", 1.0)
# schedules: the scheduler tick in each arbor_worker, fires per tick, catch-up bound
ARBOR_SCHEDULER_INTERVAL = envfloat("ARBOR_SCHEDULER_INTERVAL", 0.5)
ARBOR_SCHEDULE_BATCH = envint("ARBOR_SCHEDULE_BATCH", 200)
ARBOR_SCHEDULE_MAX_CATCH_UP = envint("ARBOR_SCHEDULE_MAX_CATCH_UP", 10)
ARBOR_SCHEDULE_MIN_INTERVAL = envint("ARBOR_SCHEDULE_MIN_INTERVAL", 10)
ARBOR_DEFAULT_TIMEOUT = envfloat("ARBOR_DEFAULT_TIMEOUT", 3600.0)
ARBOR_MAX_TIMEOUT = envfloat("ARBOR_MAX_TIMEOUT", 24 * 3600.0)
ARBOR_TIMEOUT_GRACE = envfloat("ARBOR_TIMEOUT_GRACE", 5.0)
ARBOR_CANCEL_GRACE = envfloat("ARBOR_CANCEL_GRACE", 5.0)
ARBOR_SHUTDOWN_GRACE = envfloat("ARBOR_SHUTDOWN_GRACE", 30.0)
ARBOR_DEFAULT_MAX_RETRIES = envint("ARBOR_DEFAULT_MAX_RETRIES", 0)
ARBOR_DEFAULT_RETRY_DELAY = envfloat("ARBOR_DEFAULT_RETRY_DELAY", 1.0)
ARBOR_MAX_RETRY_DELAY = envfloat("ARBOR_MAX_RETRY_DELAY", 600.0)
ARBOR_DRAIN_BUDGET = envfloat("ARBOR_DRAIN_BUDGET", 30.0)
ARBOR_CLAIM_BATCH = envint("ARBOR_CLAIM_BATCH", 64)
# executor threads per worker process for executors that do not run inline (sleep, shell, http…):
# each runs under its own lease, heartbeats, timeout and cancellation
ARBOR_WORKER_CONCURRENCY = envint("ARBOR_WORKER_CONCURRENCY", 32)
ARBOR_PROGRESS_INTERVAL = envfloat("ARBOR_PROGRESS_INTERVAL", 0.25)
ARBOR_WATCHDOG_STALL_SECONDS = envfloat("ARBOR_WATCHDOG_STALL_SECONDS", 30.0)
# how long a worker retries a service call while the database is unreachable (docs/reliability.md)
ARBOR_DB_RETRY_SECONDS = envfloat("ARBOR_DB_RETRY_SECONDS", 60.0)

# Executors that reach outside are off unless allow-listed here.
ARBOR_EXECUTORS: dict[str, str] = {}
ARBOR_HTTP_ALLOWED_HOSTS = envlist("ARBOR_HTTP_ALLOWED_HOSTS", [])
ARBOR_SHELL_ALLOWED_COMMANDS = envlist("ARBOR_SHELL_ALLOWED_COMMANDS", [])

# --- triggers and notifications (docs/notifications.md) ------------------------------------------
ARBOR_TRIGGER_MAX_BYTES = envint("ARBOR_TRIGGER_MAX_BYTES", 64 * 1024)
ARBOR_TRIGGER_TOLERANCE = envfloat("ARBOR_TRIGGER_TOLERANCE", 300.0)  # X-Arbor-Timestamp skew, seconds
ARBOR_TRIGGER_RATE = os.environ.get("ARBOR_TRIGGER_RATE", "60/min")  # per trigger
# Outbound webhook targets follow the http executor's rules (tasks_app/outbound.py): empty = off.
ARBOR_WEBHOOK_ALLOWED_HOSTS = envlist("ARBOR_WEBHOOK_ALLOWED_HOSTS", [])
ARBOR_WEBHOOK_TIMEOUT = envfloat("ARBOR_WEBHOOK_TIMEOUT", 10.0)
ARBOR_WEBHOOK_MAX_ATTEMPTS = envint("ARBOR_WEBHOOK_MAX_ATTEMPTS", 5)
ARBOR_WEBHOOK_RETRY_DELAY = envfloat("ARBOR_WEBHOOK_RETRY_DELAY", 10.0)  # doubled per attempt
ARBOR_WEBHOOK_MAX_RETRY_DELAY = envfloat("ARBOR_WEBHOOK_MAX_RETRY_DELAY", 3600.0)
# E-mail notifications need mail: EMAIL_HOST (SMTP) or another EMAIL_BACKEND.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "arbor@localhost")
# A started process gets PATH, LANG and HOME/TMPDIR/cwd in a per-attempt directory, nothing else of
# the worker's environment but these names; inputs.env may set only ARBOR_SHELL_USER_ENV's names.
# BASH_FUNC_*, LD_*, PYTHON*, GIT_*, IFS, ENV, BASH_ENV... are refused in both (docs/security.md).
ARBOR_SHELL_PASS_ENV = envlist("ARBOR_SHELL_PASS_ENV", [])
ARBOR_SHELL_USER_ENV = envlist("ARBOR_SHELL_USER_ENV", [])
ARBOR_PYTHON_FUNCTIONS = envlist("ARBOR_PYTHON_FUNCTIONS", [])

# django-q2 is a wake-up transport only: Arbor's own attempt rows are the source of truth, so a
# redelivered drain job is harmless (it claims with a compare-and-set). The django-q2 timeout must
# exceed the longest task timeout plus grace, or it would kill a healthy long task.
Q_CLUSTER = {
    "name": os.environ.get("ARBOR_CLUSTER_NAME", "arbor"),
    "workers": ARBOR_WORKERS,
    "orm": "default",
    "timeout": int(ARBOR_MAX_TIMEOUT + ARBOR_TIMEOUT_GRACE + ARBOR_DRAIN_BUDGET + 60),
    "retry": int(ARBOR_MAX_TIMEOUT + ARBOR_TIMEOUT_GRACE + ARBOR_DRAIN_BUDGET + 120),
    "max_attempts": 1,
    "ack_failures": True,
    "queue_limit": ARBOR_WORKERS,
    "bulk": 1,
    "poll": 0.05,
    "catch_up": False,
    "save_limit": 100,
    "guard_cycle": 0.5,
    "label": "Worker cluster (django-q2)",
    "sync": envbool("ARBOR_Q_SYNC", False),
}

# --- operations: probes, metrics, heartbeats (tasks_app/ops, docs/deployment.md) ---------------
ARBOR_METRICS_TOKEN = os.environ.get("ARBOR_METRICS_TOKEN", "")
# with DEBUG=0, /metrics and /readyz's detail need the token or a client address listed here
ARBOR_METRICS_ALLOWED_IPS = envlist("ARBOR_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
ARBOR_HEALTH_STALE_SECONDS = envfloat("ARBOR_HEALTH_STALE_SECONDS", 15.0)
ARBOR_METRICS_WINDOW = envfloat("ARBOR_METRICS_WINDOW", 300.0)
ARBOR_METRICS_CACHE_SECONDS = envfloat("ARBOR_METRICS_CACHE_SECONDS", 5.0)
# prefix of Attempt.worker ("<label>:<host>:<pid>"), e.g. the machine or cluster name
ARBOR_WORKER_LABEL = os.environ.get("ARBOR_WORKER_LABEL", "")

# --- channels ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")

# Cache: DRF's throttle counters, shared by all web processes. Redis when REDIS_URL is set, else
# a table in DATABASE_URL's database (made by migration 0005); the embedded default (SQLite, one
# process) keeps counters in process memory: with N web processes that allows N times the rate.
ARBOR_CACHE = os.environ.get("ARBOR_CACHE", "redis" if REDIS_URL else ("db" if DATABASE_URL else "locmem"))
if ARBOR_CACHE == "redis":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
elif ARBOR_CACHE == "db":
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "arbor_cache"}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "arbor"}}
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # socket_timeout None: redis-py 8 otherwise closes idle consumers every ~5 s.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}], "capacity": 1000},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Live updates (docs/live.md): how web processes hear of events committed by other processes.
# "auto": Redis if REDIS_URL is set, else LISTEN/NOTIFY on PostgreSQL, else polling the event table.
ARBOR_LIVE_WAKEUP = os.environ.get("ARBOR_LIVE_WAKEUP", "auto")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tasks_app.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "tasks_app.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "tasks_app.api.throttling.UserRateThrottle",
        "tasks_app.api.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("ARBOR_THROTTLE_USER", "6000/min"),
        "anon": os.environ.get("ARBOR_THROTTLE_ANON", "600/min"),
    },
}
# API tokens: lifetime of a new token when its creator gives none (0 = no expiry)
ARBOR_TOKEN_DEFAULT_DAYS = envint("ARBOR_TOKEN_DEFAULT_DAYS", 90)
# the built-in system_info executor (host metrics) is for staff unless opened to everyone
ARBOR_SYSTEM_INFO_FOR_ALL = envbool("ARBOR_SYSTEM_INFO_FOR_ALL", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Arbor API",
    "DESCRIPTION": "Build, run and watch task trees.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI assets are served from the drf-spectacular-sidecar package (no CDN)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # the error responses every operation can give (401, 404, 429, 503...), in one place
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tasks_app.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "TriggerModeEnum": "tasks_app.models.notify.TriggerMode",
        "ScheduleKindEnum": "tasks_app.models.schedule.KIND_CHOICES",
        "NotificationKindEnum": "tasks_app.models.notify.NotificationKind",
    },
}

# --- security ---------------------------------------------------------------------------------
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
    SECURE_CONTENT_TYPE_NOSNIFF = True
# Content-Security-Policy (django-csp): no inline or foreign script anywhere (the UI, the admin,
# the browsable API, Swagger UI's split view). Inline *styles* stay allowed: templates, the admin
# and Swagger UI use style attributes and <style> blocks; styles cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # same-origin ws:/wss: included (CSP Level 3)
        "worker-src": ["'self'"],  # the graph layout worker (static/tasks_app/js/layout-worker.js)
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
}
# HSTS preload is opt-in (SECURE_HSTS_PRELOAD=1 once the domain is ready for the preload list).
SILENCED_SYSTEM_CHECKS = envlist("SILENCED_SYSTEM_CHECKS", ["security.W021"])

# --- logging ----------------------------------------------------------------------------------
LOG_FORMAT = os.environ.get("ARBOR_LOG_FORMAT", "text")  # "json" for structured logs
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "json": {"()": "tasks_app.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("ARBOR_LOG_LEVEL", "INFO")},
    "loggers": {
        "django-q": {
            "level": os.environ.get("ARBOR_Q_LOG_LEVEL", "WARNING"),
            "propagate": True,
        },  # its logger name
        "daphne": {"level": "WARNING"},
    },
}
