"""Test settings: `from .settings import *` plus fast timings and a file-backed SQLite test DB.

A separate module (not override_settings) because django-q2 reads Q_CLUSTER once, at import.
"""

import os

from tasks_app.conf import env

from .settings import *  # noqa: F403
from .settings import BASE_DIR, DATABASES, Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Client.login() passes no request, which django-axes refuses: see tests/auth_backends.py
AUTHENTICATION_BACKENDS = [
    "tests.auth_backends.RequestOptionalAxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# throttles stay on, at rates no ordinary test reaches (tests/security/test_throttling.py lowers them)
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": "100000/min", "anon": "100000/min"}}  # noqa: F405
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "arbor-tests"}}
ARBOR_TOKEN_DEFAULT_DAYS = 90
DEBUG = False
ALLOWED_HOSTS = ["*"]
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# Tests drive workers explicitly (worker.loop.run_until_idle) unless a test opts in.
ARBOR_DISPATCH = env("ARBOR_DISPATCH", "none")
ARBOR_LEASE_SECONDS = 2.0
ARBOR_HEARTBEAT_SECONDS = 0.25
ARBOR_REAPER_INTERVAL = 0.25
ARBOR_SCHEDULER_INTERVAL = 0.2
ARBOR_SCHEDULE_MIN_INTERVAL = 1
# fault tests: the scheduler sleeps this long inside a fire transaction (a window to kill it in)
ARBOR_TEST_FIRE_PAUSE = env("ARBOR_TEST_FIRE_PAUSE")
ARBOR_TIMEOUT_GRACE = 1.0
ARBOR_CANCEL_GRACE = 1.0
ARBOR_SHUTDOWN_GRACE = 2.0
ARBOR_PROGRESS_INTERVAL = 0.05
ARBOR_HTTP_ALLOWED_HOSTS = ["127.0.0.1:*"]  # the tests' local servers listen on random ports
ARBOR_SHELL_ALLOWED_COMMANDS = ["echo hello", "sleep 600"]
ARBOR_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1:*"]  # the notification tests' local receivers
ARBOR_PYTHON_FUNCTIONS = ["tests.helpers.add"]

# Worker processes started by tests must reach the same database: never in-memory SQLite. Each
# pytest run gets its own test database, so parallel runs never clash.
RUN_ID = os.environ.setdefault("ARBOR_TEST_RUN_ID", str(os.getpid()))
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    (BASE_DIR / ".tmp").mkdir(exist_ok=True)
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".tmp" / f"test_db_{RUN_ID}.sqlite3")}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_arbor_{RUN_ID}"}
Q_CLUSTER = {**Q_CLUSTER, "sync": False}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# Fault tests: worker subprocesses register the misbehaving test executors and may log django-q2's
# process lifecycle ("ready for work at PID ...") to find the worker to kill.
FAULT_EXECUTORS = {  # the same table as tests.fault_executors.FAULT_EXECUTORS (a test checks)
    "write_marker_file": "tests.fault_executors.WriteMarkerFile",
    "kill_self": "tests.fault_executors.KillSelf",
    "block_signals_busy_loop": "tests.fault_executors.BlockSignalsBusyLoop",
    "spawn_child_then_hang": "tests.fault_executors.SpawnChildThenHang",
    "sleep_ignoring_cancel": "tests.fault_executors.SleepIgnoringCancel",
}
if env("ARBOR_TEST_EXECUTORS"):
    ARBOR_EXECUTORS = {**globals().get("ARBOR_EXECUTORS", {}), **FAULT_EXECUTORS}
if env("ARBOR_TEST_Q_LOG"):
    LOGGING = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "t": {"format": "%(asctime)s.%(msecs)03d %(process)d %(name)s %(message)s", "datefmt": "%H:%M:%S"}
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "t"}},
        "root": {"level": "WARNING", "handlers": ["console"]},
        "loggers": {"django-q": {"level": "INFO"}, "arbor": {"level": "INFO"}},
    }
