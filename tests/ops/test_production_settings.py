"""The production settings module, configured only through the environment (subprocesses, so the
real ``orchestrator_site.settings`` is imported the way Daphne and the worker import it)."""

import json
import os
import secrets
import subprocess
import sys

from .conftest import ROOT

PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "arbor.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://arbor.example.com",
}
DUMP = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'workers': s.Q_CLUSTER['workers'], 'queue_limit': s.Q_CLUSTER['queue_limit'], 'cluster': "
    "s.Q_CLUSTER['name'],"
    "'lease': s.ARBOR_LEASE_SECONDS, 'heartbeat': s.ARBOR_HEARTBEAT_SECONDS, 'db': s.DATABASES['default'],"
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'hosts': s.ALLOWED_HOSTS, 'ssl': s.SECURE_SSL_REDIRECT,"
    "'token': s.ARBOR_METRICS_TOKEN, 'static_root': str(s.STATIC_ROOT), 'debug': s.DEBUG}, default=str))"
)


def manage(args, env_overrides, tmp_path, timeout=60):
    # a clean environment: no test-run database, no DJANGO_ALLOW_ASYNC_UNSAFE (tests/conftest.py sets it)
    drop = {"DATABASE_URL", "REDIS_URL", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update({"ARBOR_VAR_DIR": str(tmp_path), **PRODUCTION, **env_overrides})
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_check_deploy_is_clean_with_production_environment(tmp_path):
    result = manage(["check", "--deploy", "--fail-level", "WARNING"], {}, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_the_development_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if k != "SECRET_KEY"},
            **env,
            "ARBOR_VAR_DIR": str(tmp_path),
        },
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_settings_come_from_the_environment(tmp_path):
    result = manage(
        ["shell", "-c", DUMP],
        {
            "DATABASE_URL": "postgres://arbor:pw@db.internal:6432/arbor",
            "REDIS_URL": "redis://redis.internal:6379/0",
            "ARBOR_WORKERS": "6",
            "ARBOR_CLUSTER_NAME": "arbor-prod",
            "ARBOR_LEASE_SECONDS": "20",
            "ARBOR_HEARTBEAT_SECONDS": "4",
            "ARBOR_METRICS_TOKEN": "t0ken",
            "ARBOR_STATIC_ROOT": str(tmp_path / "static"),
            "ARBOR_DB_CONNECT_TIMEOUT": "3",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    s = json.loads(result.stdout.strip().splitlines()[-1])
    assert (s["workers"], s["queue_limit"], s["cluster"]) == (6, 6, "arbor-prod")
    assert (s["lease"], s["heartbeat"]) == (20.0, 4.0)
    db = s["db"]
    assert (db["ENGINE"], db["HOST"], db["PORT"], db["NAME"]) == (
        "django.db.backends.postgresql",
        "db.internal",
        6432,
        "arbor",
    )
    assert db["CONN_MAX_AGE"] == 600 and db["CONN_HEALTH_CHECKS"] is True
    assert db["OPTIONS"] == {"connect_timeout": 3, "application_name": "arbor-shell"}
    assert s["layer"] == "channels_redis.core.RedisChannelLayer"
    assert s["hosts"] == ["arbor.example.com"] and s["ssl"] is True and s["debug"] is False
    assert s["token"] == "t0ken" and s["static_root"] == str(tmp_path / "static")


def test_collectstatic_gathers_compressed_files(tmp_path):
    root = tmp_path / "static"
    result = manage(
        ["collectstatic", "--noinput", "-v0"], {"ARBOR_STATIC_ROOT": str(root)}, tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (root / "admin" / "css" / "base.css").exists()
    assert (root / "admin" / "css" / "base.css.gz").exists()  # WhiteNoise serves the precompressed copy
    # the page scripts are ES modules: every relative import (and the layout worker's URL) names a
    # file that was collected beside it, so the browser can load them from STATIC_ROOT as they are
    js = root / "tasks_app" / "js"
    assert (js / "editor.js").exists() and (js / "editor.js.gz").exists()
    assert module_imports_missing(js) == []


def module_imports_missing(js_root):
    """Relative module specifiers in the JS files under ``js_root`` that name no file there."""
    import re

    pattern = re.compile(r"""(?:\bfrom\s*|\bimport\s*\(?\s*|new URL\(\s*)["'](\.{1,2}/[^"']+)["']""")
    missing = []
    files = [f for f in js_root.rglob("*.js") if "tests" not in f.relative_to(js_root).parts]
    assert len(files) > 10
    for f in files:
        for spec in pattern.findall(f.read_text()):
            if not (f.parent / spec).resolve().is_file():
                missing.append(f"{f.relative_to(js_root)}: {spec}")
    return missing


def test_json_logs(tmp_path):
    code = "import logging; logging.getLogger('arbor.test').warning('hello %s', 'world')"
    result = manage(["shell", "-c", code], {"ARBOR_LOG_FORMAT": "json"}, tmp_path)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    record = next(r for r in records if r["logger"] == "arbor.test")
    assert record["level"] == "WARNING" and record["message"] == "hello world"
    assert {"ts", "pid"} <= set(record)


def test_web_processes_pool_their_connections(tmp_path):
    """Daphne runs each request in its own thread: a bounded pool, not persistent connections."""
    code = (
        "import sys, json; sys.argv = ['/srv/arbor/venv/bin/daphne']; import django; django.setup();"
        "from django.conf import settings as s; print(json.dumps(s.DATABASES['default'], default=str))"
    )
    env = {
        k: v for k, v in os.environ.items() if k not in {"DJANGO_ALLOW_ASYNC_UNSAFE", "ARBOR_DB_POOL_SIZE"}
    }
    env.update(
        PRODUCTION, DATABASE_URL="postgres://arbor:pw@db.internal:5432/arbor", ARBOR_VAR_DIR=str(tmp_path)
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    db = json.loads(result.stdout.strip().splitlines()[-1])
    assert db["CONN_MAX_AGE"] == 0
    assert db["OPTIONS"]["pool"] == {"min_size": 1, "max_size": 10, "timeout": 10}
    assert db["OPTIONS"]["application_name"] == "arbor-web"
    result = manage(
        ["shell", "-c", DUMP], {"DATABASE_URL": "postgres://a@h/d", "ARBOR_DB_POOL_SIZE": "4"}, tmp_path
    )
    db = json.loads(result.stdout.strip().splitlines()[-1])["db"]
    assert db["OPTIONS"]["pool"]["max_size"] == 4 and db["CONN_MAX_AGE"] == 0


def test_rate_and_live_variables_reach_the_code_that_uses_them(tmp_path):
    """ARBOR_THROTTLE_USER/ANON become the rates DRF's throttles apply; ARBOR_LIVE_* the live hub's
    and websockets' budgets (issue 17: these were documented and not all read)."""
    probe = (
        "import json; from tasks_app.api.throttling import UserRateThrottle, AnonRateThrottle;"
        "from tasks_app.live.hub import Hub; from tasks_app import conf; import asyncio;"
        "h = Hub(asyncio.new_event_loop());"
        "print(json.dumps({'user': UserRateThrottle().get_rate(), 'anon': AnonRateThrottle().get_rate(),"
        "'poll_min': h.poll_min, 'backstop': h.backstop, 'idle': h.idle_stop,"
        "'log_burst': conf.get('ARBOR_LIVE_LOG_BURST'), 'subs': conf.get('ARBOR_LIVE_MAX_SUBSCRIPTIONS')}))"
    )
    overrides = {
        "ARBOR_THROTTLE_USER": "7/min",
        "ARBOR_THROTTLE_ANON": "3/min",
        "ARBOR_LIVE_POLL_MIN": "0.5",
        "ARBOR_LIVE_BACKSTOP": "4",
        "ARBOR_LIVE_IDLE_STOP": "9",
        "ARBOR_LIVE_LOG_BURST": "11",
        "ARBOR_LIVE_MAX_SUBSCRIPTIONS": "12",
    }
    result = manage(["shell", "-c", probe], overrides, tmp_path)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == {
        "user": "7/min",
        "anon": "3/min",
        "poll_min": 0.5,
        "backstop": 4.0,
        "idle": 9.0,
        "log_burst": 11.0,
        "subs": 12,
    }
