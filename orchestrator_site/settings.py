"""Arbor settings: one module, everything from the environment (healthchecks style).

Every variable is declared once, with its default, parser and doc, in ``tasks_app/conf.py``;
``env(NAME)`` reads it through that declaration.

Embedded default: SQLite in ./var, no other server. Production: DATABASE_URL (PostgreSQL) and,
optionally, REDIS_URL. See docs/deployment.md for every variable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url

from tasks_app.conf import env

BASE_DIR = Path(__file__).resolve().parent.parent


DEBUG = env("DEBUG")
DEV_SECRET_KEY = "arbor-insecure-development-key-change-me-in-production-0123456789"
SECRET_KEY = env("SECRET_KEY") or DEV_SECRET_KEY
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
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")
VAR_DIR = Path(env("ARBOR_VAR_DIR", str(BASE_DIR / "var")))

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
    # /healthz /readyz /metrics: before host checks and SSL redirect
    "tasks_app.ops.probe_middleware.ProbeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tasks_app.ops.db_unavailable.DatabaseUnavailableMiddleware",
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

DATABASE_URL = env("DATABASE_URL")
CONN_MAX_AGE = env("ARBOR_DB_CONN_MAX_AGE")
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
ARBOR_DB_POOL_SIZE = env("ARBOR_DB_POOL_SIZE", 10 if _process_role() == "web" else 0)
if IS_POSTGRES:
    _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
    _pg_options.setdefault("connect_timeout", env("ARBOR_DB_CONNECT_TIMEOUT"))
    _pg_options.setdefault(
        "application_name", env("ARBOR_DB_APPLICATION_NAME") or f"arbor-{_process_role()}"[:63]
    )
    if ARBOR_DB_POOL_SIZE > 0:
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
        _pg_options["pool"] = {"min_size": 1, "max_size": ARBOR_DB_POOL_SIZE, "timeout": 10}


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- accounts: passwords, login lockout (django-axes), password reset (docs/security.md) --
ARBOR_PASSWORD_MIN_LENGTH = env("ARBOR_PASSWORD_MIN_LENGTH")
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
ARBOR_LOGIN_FAILURE_LIMIT = env("ARBOR_LOGIN_FAILURE_LIMIT")
ARBOR_LOGIN_COOLOFF_SECONDS = env("ARBOR_LOGIN_COOLOFF_SECONDS")
ARBOR_LOGIN_COOLOFF_MAX_SECONDS = env("ARBOR_LOGIN_COOLOFF_MAX_SECONDS")
AXES_FAILURE_LIMIT = ARBOR_LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_COOLOFF_TIME = "tasks_app.accounts.login_cooloff"  # doubles with every failure past the limit
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tasks_app.accounts.client_ip"  # REMOTE_ADDR, as the audit trail
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Password reset by mail is offered only when a mail server is configured (EMAIL_HOST).
EMAIL_HOST = env("EMAIL_HOST")  # the mail settings are under "triggers and notifications"
ARBOR_PASSWORD_RESET = env("ARBOR_PASSWORD_RESET", bool(EMAIL_HOST))
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("ARBOR_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- request limits (documented in docs/api.md) ---------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = env("ARBOR_MAX_BODY_BYTES")
ARBOR_LIMITS = {
    "max_tasks_per_tree": env("ARBOR_MAX_TASKS_PER_TREE"),
    "max_tree_depth": env("ARBOR_MAX_TREE_DEPTH"),
    "max_dependencies_per_task": env("ARBOR_MAX_DEPENDENCIES_PER_TASK"),
    "max_json_depth": env("ARBOR_MAX_JSON_DEPTH"),
    "max_batch_size": env("ARBOR_MAX_BATCH_SIZE"),
    "max_resources_per_task": env("ARBOR_MAX_RESOURCES_PER_TASK"),
    "max_name_length": 200,
}

# --- execution -------------------------------------------------------------------------------
ARBOR_WORKERS = env("ARBOR_WORKERS")
# How services wake workers after a commit: "q2" (django-q2 ORM broker), "inline" (run in this
# process after commit; tests and the CLI without a cluster) or "none" (tests drive workers).
ARBOR_DISPATCH = env("ARBOR_DISPATCH")
ARBOR_LEASE_SECONDS = env("ARBOR_LEASE_SECONDS")
ARBOR_HEARTBEAT_SECONDS = env("ARBOR_HEARTBEAT_SECONDS")
ARBOR_REAPER_INTERVAL = env("ARBOR_REAPER_INTERVAL")
# schedules: the scheduler tick in each arbor_worker, fires per tick, catch-up bound
ARBOR_SCHEDULER_INTERVAL = env("ARBOR_SCHEDULER_INTERVAL")
ARBOR_SCHEDULE_BATCH = env("ARBOR_SCHEDULE_BATCH")
ARBOR_SCHEDULE_MAX_CATCH_UP = env("ARBOR_SCHEDULE_MAX_CATCH_UP")
ARBOR_SCHEDULE_MIN_INTERVAL = env("ARBOR_SCHEDULE_MIN_INTERVAL")
ARBOR_DEFAULT_TIMEOUT = env("ARBOR_DEFAULT_TIMEOUT")
ARBOR_MAX_TIMEOUT = env("ARBOR_MAX_TIMEOUT")
ARBOR_TIMEOUT_GRACE = env("ARBOR_TIMEOUT_GRACE")
ARBOR_CANCEL_GRACE = env("ARBOR_CANCEL_GRACE")
ARBOR_SHUTDOWN_GRACE = env("ARBOR_SHUTDOWN_GRACE")
ARBOR_DEFAULT_MAX_RETRIES = env("ARBOR_DEFAULT_MAX_RETRIES")
ARBOR_DEFAULT_RETRY_DELAY = env("ARBOR_DEFAULT_RETRY_DELAY")
ARBOR_MAX_RETRY_DELAY = env("ARBOR_MAX_RETRY_DELAY")
ARBOR_DRAIN_BUDGET = env("ARBOR_DRAIN_BUDGET")
ARBOR_CLAIM_BATCH = env("ARBOR_CLAIM_BATCH")
ARBOR_PG_PREPARE = env("ARBOR_PG_PREPARE")
# executor threads per worker process for executors that do not run inline (sleep, shell, http…):
# each runs under its own lease, heartbeats, timeout and cancellation
ARBOR_WORKER_CONCURRENCY = env("ARBOR_WORKER_CONCURRENCY")
ARBOR_PROGRESS_INTERVAL = env("ARBOR_PROGRESS_INTERVAL")
ARBOR_WATCHDOG_STALL_SECONDS = env("ARBOR_WATCHDOG_STALL_SECONDS")
# how long a worker retries a service call while the database is unreachable (docs/reliability.md)
ARBOR_DB_RETRY_SECONDS = env("ARBOR_DB_RETRY_SECONDS")

# Executors that reach outside are off unless allow-listed here.
ARBOR_EXECUTORS: dict[str, str] = {}
ARBOR_HTTP_ALLOWED_HOSTS = env("ARBOR_HTTP_ALLOWED_HOSTS")
ARBOR_SHELL_ALLOWED_COMMANDS = env("ARBOR_SHELL_ALLOWED_COMMANDS")

# --- triggers and notifications (docs/notifications.md) ------------------------------------------
ARBOR_TRIGGER_MAX_BYTES = env("ARBOR_TRIGGER_MAX_BYTES")
ARBOR_TRIGGER_TOLERANCE = env("ARBOR_TRIGGER_TOLERANCE")  # X-Arbor-Timestamp skew, seconds
ARBOR_TRIGGER_RATE = env("ARBOR_TRIGGER_RATE")  # per trigger
# Outbound webhook targets follow the http executor's rules (tasks_app/outbound.py): empty = off.
ARBOR_WEBHOOK_ALLOWED_HOSTS = env("ARBOR_WEBHOOK_ALLOWED_HOSTS")
ARBOR_WEBHOOK_TIMEOUT = env("ARBOR_WEBHOOK_TIMEOUT")
ARBOR_WEBHOOK_MAX_ATTEMPTS = env("ARBOR_WEBHOOK_MAX_ATTEMPTS")
ARBOR_WEBHOOK_RETRY_DELAY = env("ARBOR_WEBHOOK_RETRY_DELAY")  # doubled per attempt
ARBOR_WEBHOOK_MAX_RETRY_DELAY = env("ARBOR_WEBHOOK_MAX_RETRY_DELAY")
# E-mail notifications need mail: EMAIL_HOST (SMTP) or another EMAIL_BACKEND.
EMAIL_BACKEND = env("EMAIL_BACKEND")
EMAIL_HOST = env("EMAIL_HOST")
EMAIL_PORT = env("EMAIL_PORT")
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env("EMAIL_USE_TLS")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")
# A started process gets PATH, LANG and HOME/TMPDIR/cwd in a per-attempt directory, nothing else of
# the worker's environment but these names; inputs.env may set only ARBOR_SHELL_USER_ENV's names.
# BASH_FUNC_*, LD_*, PYTHON*, GIT_*, IFS, ENV, BASH_ENV... are refused in both (docs/security.md).
ARBOR_SHELL_PASS_ENV = env("ARBOR_SHELL_PASS_ENV")
ARBOR_SHELL_USER_ENV = env("ARBOR_SHELL_USER_ENV")
ARBOR_PYTHON_FUNCTIONS = env("ARBOR_PYTHON_FUNCTIONS")

# django-q2 is a wake-up transport only: Arbor's own attempt rows are the source of truth, so a
# redelivered drain job is harmless (it claims with a compare-and-set). The django-q2 timeout must
# exceed the longest task timeout plus grace, or it would kill a healthy long task.
ARBOR_Q_IDLE_POLL = env("ARBOR_Q_IDLE_POLL")
Q_CLUSTER = {
    "name": env("ARBOR_CLUSTER_NAME"),
    "workers": ARBOR_WORKERS,
    "orm": "default",
    "timeout": int(ARBOR_MAX_TIMEOUT + ARBOR_TIMEOUT_GRACE + ARBOR_DRAIN_BUDGET + 60),
    "retry": int(ARBOR_MAX_TIMEOUT + ARBOR_TIMEOUT_GRACE + ARBOR_DRAIN_BUDGET + 120),
    "max_attempts": 1,
    "ack_failures": True,
    "queue_limit": ARBOR_WORKERS,
    "bulk": 1,
    # PostgreSQL: jobs are announced by NOTIFY and an idle pusher reads the table every
    # ARBOR_Q_IDLE_POLL seconds (tasks_app/worker/broker.py); elsewhere it polls every 50 ms
    "broker_class": "tasks_app.worker.broker.ListeningORM",
    "poll": 0.05,
    "catch_up": False,
    "save_limit": 100,
    "guard_cycle": 0.5,
    "label": "Worker cluster (django-q2)",
    "sync": env("ARBOR_Q_SYNC"),
}

# --- operations: probes, metrics, heartbeats (tasks_app/ops, docs/deployment.md) ---------------
ARBOR_METRICS_TOKEN = env("ARBOR_METRICS_TOKEN")
# with DEBUG=0, /metrics and /readyz's detail need the token or a client address listed here
ARBOR_METRICS_ALLOWED_IPS = env("ARBOR_METRICS_ALLOWED_IPS")
ARBOR_HEALTH_STALE_SECONDS = env("ARBOR_HEALTH_STALE_SECONDS")
ARBOR_METRICS_WINDOW = env("ARBOR_METRICS_WINDOW")
ARBOR_METRICS_CACHE_SECONDS = env("ARBOR_METRICS_CACHE_SECONDS")
# prefix of Attempt.worker ("<label>:<host>:<pid>"), e.g. the machine or cluster name
ARBOR_WORKER_LABEL = env("ARBOR_WORKER_LABEL")

# --- channels ---------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL")

# Cache: DRF's throttle counters, shared by all web processes. Redis when REDIS_URL is set, else
# a table in DATABASE_URL's database (made by migration 0005); the embedded default (SQLite, one
# process) keeps counters in process memory: with N web processes that allows N times the rate.
ARBOR_CACHE = env("ARBOR_CACHE", "redis" if REDIS_URL else ("db" if DATABASE_URL else "locmem"))
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
ARBOR_LIVE_WAKEUP = env("ARBOR_LIVE_WAKEUP")
# the event tail, the websockets' budgets and the dashboard stream (docs/live.md)
ARBOR_LIVE_POLL_MIN = env("ARBOR_LIVE_POLL_MIN")
ARBOR_LIVE_POLL_MAX = env("ARBOR_LIVE_POLL_MAX")
ARBOR_LIVE_BACKSTOP = env("ARBOR_LIVE_BACKSTOP")
ARBOR_LIVE_IDLE_STOP = env("ARBOR_LIVE_IDLE_STOP")
ARBOR_LIVE_GAP_SECONDS = env("ARBOR_LIVE_GAP_SECONDS")
ARBOR_LIVE_RECHECK_SECONDS = env("ARBOR_LIVE_RECHECK_SECONDS")
ARBOR_LIVE_MAX_BACKLOG = env("ARBOR_LIVE_MAX_BACKLOG")
ARBOR_LIVE_PROGRESS_PER_SECOND = env("ARBOR_LIVE_PROGRESS_PER_SECOND")
ARBOR_LIVE_LOG_PER_SECOND = env("ARBOR_LIVE_LOG_PER_SECOND")
ARBOR_LIVE_LOG_BURST = env("ARBOR_LIVE_LOG_BURST")
ARBOR_LIVE_MAX_SUBSCRIPTIONS = env("ARBOR_LIVE_MAX_SUBSCRIPTIONS")
ARBOR_LIVE_COUNTS_SECONDS = env("ARBOR_LIVE_COUNTS_SECONDS")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tasks_app.auth.bearer.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # DRF's JSON renderer, byte for byte, encoded by orjson where that gives the same bytes
    "DEFAULT_RENDERER_CLASSES": [
        "tasks_app.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
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
        "user": env("ARBOR_THROTTLE_USER"),
        "anon": env("ARBOR_THROTTLE_ANON"),
    },
}
# API tokens: lifetime of a new token when its creator gives none (0 = no expiry)
ARBOR_TOKEN_DEFAULT_DAYS = env("ARBOR_TOKEN_DEFAULT_DAYS")
# the built-in system_info executor (host metrics) is for staff unless opened to everyone
ARBOR_SYSTEM_INFO_FOR_ALL = env("ARBOR_SYSTEM_INFO_FOR_ALL")
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
    SESSION_COOKIE_SECURE = env("SESSION_COOKIE_SECURE")
    CSRF_COOKIE_SECURE = env("CSRF_COOKIE_SECURE")
    SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT")
    SECURE_HSTS_SECONDS = env("SECURE_HSTS_SECONDS")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env("SECURE_HSTS_PRELOAD")
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
SILENCED_SYSTEM_CHECKS = env("SILENCED_SYSTEM_CHECKS")

# --- logging ----------------------------------------------------------------------------------
LOG_FORMAT = env("ARBOR_LOG_FORMAT")  # "json" for structured logs
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s"},
        "json": {"()": "tasks_app.logging.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": env("ARBOR_LOG_LEVEL")},
    "loggers": {
        "django-q": {
            "level": env("ARBOR_Q_LOG_LEVEL"),
            "propagate": True,
        },  # its logger name
        "daphne": {"level": "WARNING"},
    },
}
