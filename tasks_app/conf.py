"""Every Arbor setting in one table: name, default, environment variable, parser, one line of doc.

In the manner of Django's ``global_settings`` and django-appconf: ``orchestrator_site/settings.py``
reads the environment through :func:`env` (so the parser and the default live here only), and code
reads a setting through :func:`get`, which looks at ``django.conf.settings`` at call time, so
``override_settings`` in tests keeps working; when Django is not configured (an executor built in a
plain Python test) the declared default is returned.

Kinds of entries (``scope``):

* ``setting`` -- a Django setting of the same name, read with ``conf.get(name)``;
* ``part`` -- an environment variable that feeds a compound Django setting (``ARBOR_LIMITS``,
  ``REST_FRAMEWORK``, ``DATABASES``, ``LOGGING``, ``Q_CLUSTER`` ...), read only in settings.py;
* ``django`` -- one of Django's (or the stack's) own settings, taken from the environment;
* ``process`` -- an environment variable a command or process reads at run time (not a setting);
* ``test`` -- test and benchmark tooling only.

``tests/ops/test_docs.py`` checks that every name here is documented and read, and that every
``ARBOR_*`` name the docs or the code mention is declared here.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def parse_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def parse_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def parse_str(value: str) -> str:
    return value


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any] | None  # None: not read from the environment (Python settings only)
    doc: str
    scope: str = "setting"
    computed: bool = False  # the real default depends on other settings (the doc says how)

    @property
    def env(self) -> str | None:
        """The environment variable's name (the setting's own), or None."""
        return self.name if self.parse is not None else None


_ = Setting
_B, _I, _F, _L, _S = parse_bool, int, float, parse_list, parse_str

SETTINGS: tuple[Setting, ...] = (
    # --- Django and the stack, from the environment ------------------------------------------------
    _("DEBUG", True, _B, "set 0 in production (turns on the security settings)", "django"),
    _(
        "SECRET_KEY",
        "",
        _S,
        "signs sessions and django-q2 jobs; required (long, random) when DEBUG=0",
        "django",
        computed=True,
    ),
    _("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"], _L, "host names served", "django"),
    _("CSRF_TRUSTED_ORIGINS", [], _L, "extra trusted origins (forms and websockets)", "django"),
    _("DATABASE_URL", "", _S, "PostgreSQL URL; empty: SQLite in ARBOR_VAR_DIR", "django"),
    _("REDIS_URL", "", _S, "Channels layer and throttle cache across web processes", "django"),
    _("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend", _S, "Django's mail backend", "django"),
    _("EMAIL_HOST", "", _S, "SMTP server (notifications, password reset)", "django"),
    _("EMAIL_PORT", 25, _I, "SMTP port", "django"),
    _("EMAIL_HOST_USER", "", _S, "SMTP user", "django"),
    _("EMAIL_HOST_PASSWORD", "", _S, "SMTP password", "django"),
    _("EMAIL_USE_TLS", False, _B, "STARTTLS", "django"),
    _("DEFAULT_FROM_EMAIL", "arbor@localhost", _S, "sender of mail", "django"),
    _("SESSION_COOKIE_SECURE", True, _B, "session cookie over HTTPS only (DEBUG=0)", "django"),
    _("CSRF_COOKIE_SECURE", True, _B, "CSRF cookie over HTTPS only (DEBUG=0)", "django"),
    _("SECURE_SSL_REDIRECT", True, _B, "redirect HTTP to HTTPS (DEBUG=0)", "django"),
    _("SECURE_HSTS_SECONDS", 3600, _I, "HSTS max-age (DEBUG=0)", "django"),
    _("SECURE_HSTS_PRELOAD", False, _B, "opt in to the HSTS preload list", "django"),
    _("SILENCED_SYSTEM_CHECKS", ["security.W021"], _L, "Django system checks to silence", "django"),
    # --- files, database, cache, logging -----------------------------------------------------------
    _(
        "ARBOR_VAR_DIR",
        "./var",
        _S,
        "SQLite file and worker stop files (default: var/ in the project)",
        "part",
        computed=True,
    ),
    _(
        "ARBOR_STATIC_ROOT",
        "./staticfiles",
        _S,
        "where collectstatic writes (default: in the project)",
        "part",
        computed=True,
    ),
    _("ARBOR_DB_CONN_MAX_AGE", 600, _I, "seconds a single-threaded process keeps its connection", "part"),
    _(
        "ARBOR_DB_POOL_SIZE",
        0,
        _I,
        "per-process PostgreSQL pool (default 10 in Daphne, 0 elsewhere)",
        "part",
        computed=True,
    ),
    _("ARBOR_DB_CONNECT_TIMEOUT", 5, _I, "seconds to wait for PostgreSQL to accept a connection", "part"),
    _(
        "ARBOR_DB_APPLICATION_NAME",
        "",
        _S,
        "pg_stat_activity.application_name (default arbor-<role>)",
        "part",
        computed=True,
    ),
    _(
        "ARBOR_CACHE",
        "locmem",
        _S,
        "throttle counters: redis, db or locmem (default from the URLs)",
        "part",
        computed=True,
    ),
    _("ARBOR_LOG_FORMAT", "text", _S, "text or json", "part"),
    _("ARBOR_LOG_LEVEL", "INFO", _S, "root log level", "part"),
    _("ARBOR_Q_LOG_LEVEL", "WARNING", _S, "django-q2's log level", "part"),
    # --- accounts ----------------------------------------------------------------------------------
    _("ARBOR_PASSWORD_MIN_LENGTH", 10, _I, "shortest password accepted", "part"),
    _("ARBOR_LOGIN_FAILURE_LIMIT", 5, _I, "failed logins of one (username, address) before a lockout"),
    _("ARBOR_LOGIN_COOLOFF_SECONDS", 300, _I, "first lockout; doubles with every further failure"),
    _("ARBOR_LOGIN_COOLOFF_MAX_SECONDS", 24 * 3600, _I, "longest lockout"),
    _(
        "ARBOR_PASSWORD_RESET",
        False,
        _B,
        "offer password reset by mail (default: on when EMAIL_HOST is set)",
        computed=True,
    ),
    _("ARBOR_TOKEN_DEFAULT_DAYS", 90, _I, "lifetime of a new API token whose creator names none (0: never)"),
    # --- request limits ----------------------------------------------------------------------------
    _(
        "ARBOR_MAX_BODY_BYTES",
        5 * 1024 * 1024,
        _I,
        "request body limit (DATA_UPLOAD_MAX_MEMORY_SIZE)",
        "part",
    ),
    _("ARBOR_LIMITS", {}, None, "the size limits below, as one dict"),
    _("ARBOR_MAX_TASKS_PER_TREE", 10_000, _I, "ARBOR_LIMITS['max_tasks_per_tree']", "part"),
    _("ARBOR_MAX_TREE_DEPTH", 50, _I, "ARBOR_LIMITS['max_tree_depth']", "part"),
    _("ARBOR_MAX_DEPENDENCIES_PER_TASK", 1000, _I, "ARBOR_LIMITS['max_dependencies_per_task']", "part"),
    _("ARBOR_MAX_JSON_DEPTH", 20, _I, "ARBOR_LIMITS['max_json_depth']", "part"),
    _("ARBOR_MAX_BATCH_SIZE", 50, _I, "ARBOR_LIMITS['max_batch_size'] (JSON-RPC batches)", "part"),
    _("ARBOR_MAX_RESOURCES_PER_TASK", 20, _I, "ARBOR_LIMITS['max_resources_per_task']", "part"),
    _(
        "ARBOR_THROTTLE_USER",
        "6000/min",
        _S,
        "API rate per user (REST_FRAMEWORK throttle rate 'user')",
        "part",
    ),
    _("ARBOR_THROTTLE_ANON", "600/min", _S, "API rate per address without credentials ('anon')", "part"),
    # --- execution ---------------------------------------------------------------------------------
    _("ARBOR_WORKERS", 2, _I, "worker processes per arbor_worker (django-q2 cluster size)"),
    _("ARBOR_CLUSTER_NAME", "arbor", _S, "django-q2 queue name (Q_CLUSTER['name'])", "part"),
    _("ARBOR_Q_SYNC", False, _B, "run django-q2 jobs synchronously (tests only)", "part"),
    _(
        "ARBOR_Q_IDLE_POLL",
        2.0,
        _F,
        "PostgreSQL: how often an idle worker cluster reads the job table (a job's NOTIFY wakes it at once)",
    ),
    _("ARBOR_WORKER_LABEL", "", _S, "prefix of Attempt.worker (<label>:<host>:<pid>)"),
    _("ARBOR_DISPATCH", "q2", _S, "how commits wake workers: q2, inline or none"),
    _("ARBOR_LEASE_SECONDS", 10.0, _F, "attempt lease; a silent worker's attempt is reaped after it"),
    _("ARBOR_HEARTBEAT_SECONDS", 2.0, _F, "lease renewal interval"),
    _("ARBOR_REAPER_INTERVAL", 1.0, _F, "reaper tick in each arbor_worker"),
    _("ARBOR_SCHEDULER_INTERVAL", 0.5, _F, "scheduler tick in each arbor_worker"),
    _("ARBOR_SCHEDULE_BATCH", 1000, _I, "most schedules one scheduler tick fires"),
    _("ARBOR_SCHEDULE_MAX_CATCH_UP", 10, _I, "most missed fires a catch-up schedule replays"),
    _("ARBOR_SCHEDULE_MIN_INTERVAL", 10, _I, "smallest interval schedule accepted (seconds)"),
    _("ARBOR_DEFAULT_TIMEOUT", 3600.0, _F, "task timeout when the task sets none"),
    _("ARBOR_MAX_TIMEOUT", 24 * 3600.0, _F, "largest task timeout accepted"),
    _("ARBOR_TIMEOUT_GRACE", 5.0, _F, "cooperative stop -> hard kill after a timeout"),
    _("ARBOR_CANCEL_GRACE", 5.0, _F, "cooperative stop -> hard kill after a cancel"),
    _("ARBOR_SHUTDOWN_GRACE", 30.0, _F, "SIGTERM: how long running attempts may finish"),
    _("ARBOR_DEFAULT_MAX_RETRIES", 0, _I, "retries when the task sets none"),
    _("ARBOR_DEFAULT_RETRY_DELAY", 1.0, _F, "first backoff delay (seconds)"),
    _("ARBOR_MAX_RETRY_DELAY", 600.0, _F, "backoff cap (seconds)"),
    _("ARBOR_DRAIN_BUDGET", 30.0, _F, "seconds one wake-up job keeps claiming before yielding"),
    _("ARBOR_CLAIM_BATCH", 64, _I, "instant tasks claimed per transaction"),
    _(
        "ARBOR_PG_PREPARE",
        True,
        _B,
        "PostgreSQL: the worker's hot statements are prepared once per connection (off behind a pooler"
        " in transaction mode, which does not keep a session's prepared statements)",
    ),
    _("ARBOR_WORKER_CONCURRENCY", 32, _I, "executor threads per worker process for concurrent executors"),
    _("ARBOR_PROGRESS_INTERVAL", 0.25, _F, "progress/log flush interval (seconds)"),
    _(
        "ARBOR_WATCHDOG_STALL_SECONDS",
        30.0,
        _F,
        "restart a cluster that leaves claimable work waiting this long",
    ),
    _("ARBOR_DB_RETRY_SECONDS", 60.0, _F, "how long a worker retries while the database is unreachable"),
    # --- executors (allow-lists: empty means nothing allowed) --------------------------------------
    _("ARBOR_EXECUTORS", {}, None, "extra executors: {id: dotted class path} (Python settings only)"),
    _("ARBOR_HTTP_ALLOWED_HOSTS", [], _L, "hosts the http executor may call"),
    _("ARBOR_SHELL_ALLOWED_COMMANDS", [], _L, "commands the shell executor may run"),
    _("ARBOR_SHELL_PASS_ENV", [], _L, "worker environment variables a started process receives"),
    _("ARBOR_SHELL_USER_ENV", [], _L, "environment variables a task's env input may set"),
    _("ARBOR_PYTHON_FUNCTIONS", [], _L, "dotted paths the python_function executor may call"),
    _("ARBOR_SYSTEM_INFO_FOR_ALL", False, _B, "let every user use the system_info executor (else staff)"),
    # --- triggers and notifications ----------------------------------------------------------------
    _("ARBOR_TRIGGER_MAX_BYTES", 64 * 1024, _I, "largest inbound trigger body (413 above)"),
    _("ARBOR_TRIGGER_TOLERANCE", 300.0, _F, "allowed X-Arbor-Timestamp skew (seconds)"),
    _("ARBOR_TRIGGER_RATE", "60/min", _S, "firings per trigger (429 above)"),
    _("ARBOR_WEBHOOK_ALLOWED_HOSTS", [], _L, "hosts notification webhooks may reach (empty: webhooks off)"),
    _("ARBOR_WEBHOOK_TIMEOUT", 10.0, _F, "default timeout of one webhook request (seconds)"),
    _("ARBOR_WEBHOOK_MAX_ATTEMPTS", 5, _I, "attempts per delivery when the rule sets none"),
    _("ARBOR_WEBHOOK_RETRY_DELAY", 10.0, _F, "first retry delay of a delivery, doubled per attempt"),
    _("ARBOR_WEBHOOK_MAX_RETRY_DELAY", 3600.0, _F, "cap of that delay (seconds)"),
    # --- operations --------------------------------------------------------------------------------
    _("ARBOR_METRICS_TOKEN", "", _S, "bearer token for /metrics and /readyz details"),
    _("ARBOR_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"], _L, "addresses that may read /metrics (DEBUG=0)"),
    _("ARBOR_HEALTH_STALE_SECONDS", 15.0, _F, "a supervisor heartbeat older than this counts as dead"),
    _("ARBOR_METRICS_WINDOW", 300.0, _F, "window of the attempt metrics (seconds)"),
    _("ARBOR_METRICS_CACHE_SECONDS", 5.0, _F, "per-process cache of /metrics (seconds)"),
    # --- live updates (docs/live.md) ---------------------------------------------------------------
    _("ARBOR_LIVE_WAKEUP", "auto", _S, "how web processes hear of events: auto, redis, postgres or poll"),
    _("ARBOR_LIVE_POLL_MIN", 0.02, _F, "event-table poll interval while events flow (seconds)"),
    _("ARBOR_LIVE_POLL_MAX", 0.1, _F, "event-table poll interval when idle (seconds)"),
    _("ARBOR_LIVE_BACKSTOP", 1.0, _F, "poll interval while a LISTEN/Redis wake-up is healthy (seconds)"),
    _("ARBOR_LIVE_IDLE_STOP", 30.0, _F, "the tail stops after this long without a subscriber (seconds)"),
    _("ARBOR_LIVE_GAP_SECONDS", 10.0, _F, "how long a missing event id is read again (seconds)"),
    _("ARBOR_LIVE_RECHECK_SECONDS", 60.0, _F, "long-lived connections re-check the user this often"),
    _("ARBOR_LIVE_MAX_BACKLOG", 2000, _I, "queued events per connection before a fresh snapshot"),
    _("ARBOR_LIVE_PROGRESS_PER_SECOND", 10.0, _F, "task.progress frames per task and second"),
    _("ARBOR_LIVE_LOG_PER_SECOND", 50.0, _F, "task.log frames per connection and second"),
    _("ARBOR_LIVE_LOG_BURST", 100.0, _F, "burst of task.log frames above that rate"),
    _("ARBOR_LIVE_MAX_SUBSCRIPTIONS", 100, _I, "trees one /ws/live/ connection may follow"),
    _("ARBOR_LIVE_COUNTS_SECONDS", 0.5, _F, "the dashboard stream sends tree counts at most this often"),
    # --- read by processes and commands, not settings ----------------------------------------------
    _(
        "ARBOR_STOP_FILE",
        "",
        _S,
        "set by arbor_worker for its cluster: stop when this file exists",
        "process",
    ),
    _("ARBOR_HOST", "127.0.0.1", _S, "arbor_up: address to listen on", "process"),
    _("ARBOR_PORT", 8000, _I, "arbor_up: port to listen on", "process"),
    _("ARBOR_CLI_USER", "", _S, "manage.py arbor: the user the command acts as", "process"),
    _("ARBOR_DEMO_USER", "demo", _S, "arbor_demo: the demo user's name", "process"),
    _("ARBOR_DEMO_PASSWORD", "demo-arbor", _S, "arbor_demo: the demo user's password", "process"),
    # --- test and benchmark tooling ----------------------------------------------------------------
    _("ARBOR_TEST_FIRE_PAUSE", 0.0, _F, "fault tests: the scheduler sleeps this long inside a fire", "test"),
    _("ARBOR_TEST_RUN_ID", "", _S, "tests: names this run's test database", "test"),
    _("ARBOR_TEST_EXECUTORS", False, _B, "tests: register the fault-injection executors", "test"),
    _("ARBOR_TEST_Q_LOG", False, _B, "tests: log django-q2's process lifecycle", "test"),
    _("ARBOR_BENCH_STATS", "", _S, "benchmarks: file the wake-up job appends its stats to", "test"),
    _("ARBOR_FUZZ_EXAMPLES", 12, _I, "schema fuzz tests: examples per operation", "test"),
    _("ARBOR_STATE_MACHINE_EXAMPLES", 125, _I, "state-machine tests: scales the number of runs", "test"),
    _("ARBOR_PG_PORT", 15432, _I, "scripts/pg.sh: port of the private PostgreSQL server", "test"),
    _("ARBOR_BENCH_PG_PORT", 15440, _I, "scripts/bench.sh: port of the benchmark's PostgreSQL", "test"),
)

DECLARED: dict[str, Setting] = {s.name: s for s in SETTINGS}
_MISSING = object()


def declared(name: str) -> Setting:
    try:
        return DECLARED[name]
    except KeyError:
        raise KeyError(f"{name} is not declared in tasks_app/conf.py") from None


def env(name: str, default: Any = _MISSING, environ=None) -> Any:
    """The declared setting's value from the environment (parsed), else ``default`` (or the declared
    default). An empty string counts as unset, except for lists (``X=`` is the empty list)."""
    spec = declared(name)
    if spec.parse is None:
        raise KeyError(f"{name} is not read from the environment")
    raw = (os.environ if environ is None else environ).get(name)
    fallback = spec.default if default is _MISSING else default
    if raw is None or (raw == "" and spec.parse is not parse_list and spec.parse is not parse_str):
        return list(fallback) if isinstance(fallback, list) else fallback
    return spec.parse(raw)


def get(name: str) -> Any:
    """``settings.<name>`` read now (``override_settings`` applies), or the declared default when the
    project's settings do not define it or Django is not configured."""
    spec = declared(name)
    try:
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:  # pragma: no cover - Django is a project dependency
        return copy.deepcopy(spec.default)
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return copy.deepcopy(spec.default)
    try:
        return getattr(settings, name)
    except AttributeError:
        return copy.deepcopy(spec.default)
    except (ImproperlyConfigured, ImportError):
        return copy.deepcopy(spec.default)
