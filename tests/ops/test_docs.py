"""docs/deployment.md, the Procfile and deploy/ agree with the code."""

import re

import pytest

from tasks_app import conf
from tasks_app.executors.config import ALLOW_LIST_SETTINGS

from .conftest import ROOT

DOC = (ROOT / "docs" / "deployment.md").read_text()
SETTINGS = (ROOT / "orchestrator_site" / "settings.py").read_text()
SETTINGS_TEST = (ROOT / "orchestrator_site" / "settings_test.py").read_text()
TABLE = DOC.split("## Environment reference", 1)[1]
ENV_READ = re.compile(r'\benv\(\s*"([A-Z][A-Z0-9_]*)"')
RAW_ENV_READ = re.compile(r"os\.environ(?:\.get\(|\[)|env(?:bool|int|float|list)\(")
ARBOR_NAME = re.compile(r"\bARBOR_[A-Z0-9_]*[A-Z0-9]\b")
# a name the code reads: settings.X, conf.get("X"), conf.env("X"), the live consumers' _cfg("X")
CODE_READ = re.compile(
    r'settings\.(ARBOR_[A-Z0-9_]+)|(?:conf\.get|conf\.env|_cfg|\benv)\(\s*(?:_config\.\w+|"([A-Z][A-Z0-9_]*)")'
)


def _docs() -> dict[str, str]:
    files = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    return {f.name: f.read_text() for f in files if f.exists()}


def _code() -> dict[str, str]:
    files = [*sorted((ROOT / "tasks_app").rglob("*.py")), *sorted((ROOT / "orchestrator_site").glob("*.py"))]
    return {str(f.relative_to(ROOT)): f.read_text() for f in files if "migrations" not in f.parts}


def _reads(text: str) -> set[str]:
    return {a or b for a, b in CODE_READ.findall(text) if a or b}


def test_settings_read_the_environment_only_through_the_declarations():
    names = set(ENV_READ.findall(SETTINGS)) | set(ENV_READ.findall(SETTINGS_TEST))
    assert {
        "DATABASE_URL",
        "SECRET_KEY",
        "ARBOR_WORKERS",
        "ARBOR_METRICS_TOKEN",
        "ARBOR_LIVE_LOG_BURST",
    } <= names
    assert not [n for n in names if n not in conf.DECLARED]
    assert not RAW_ENV_READ.findall(SETTINGS), "read the environment with env(NAME) (tasks_app/conf.py)"


def test_every_environment_variable_is_documented_in_the_table():
    names = [s.name for s in conf.SETTINGS if s.env and s.scope in ("setting", "part", "django")]
    missing = sorted(n for n in names if f"`{n}`" not in TABLE)
    assert not missing, f"add these to the table in docs/deployment.md: {missing}"
    tools = [s.name for s in conf.SETTINGS if s.scope in ("process", "test") or s.env is None]
    missing = sorted(n for n in tools if f"`{n}`" not in DOC)
    assert not missing, f"name these in docs/deployment.md: {missing}"


def test_every_documented_name_is_declared():
    undeclared = {}
    for name, text in _docs().items():
        for found in set(ARBOR_NAME.findall(text)):
            if found not in conf.DECLARED:
                undeclared.setdefault(found, name)
    assert not undeclared, (
        f"documented but not declared in tasks_app/conf.py (implement or drop): {undeclared}"
    )


def test_every_name_the_code_reads_is_declared():
    read = {}
    for path, text in _code().items():
        for name in _reads(text):
            read.setdefault(name, path)
    assert "ARBOR_LIVE_RECHECK_SECONDS" in read and "ARBOR_WORKERS" in read
    undeclared = {n: p for n, p in read.items() if n.startswith("ARBOR_") and n not in conf.DECLARED}
    assert not undeclared, f"read but not declared in tasks_app/conf.py: {undeclared}"


def test_every_declared_name_is_read():
    code = _code()
    settings_text = code.pop("orchestrator_site/settings.py") + code.pop("orchestrator_site/settings_test.py")
    code.pop("tasks_app/conf.py")
    read_by_code = set().union(*(_reads(t) for t in code.values()))
    read_by_code |= set(ALLOW_LIST_SETTINGS)  # executors/config.default_config() reads them in a loop
    tooling = "\n".join(
        f.read_text()
        for d in ("tests", "scripts")
        for f in (ROOT / d).rglob("*")
        if f.suffix in (".py", ".sh")
    )
    unread = []
    for spec in conf.SETTINGS:
        if spec.scope in ("setting", "process"):
            ok = spec.name in read_by_code or (
                spec.scope == "setting" and spec.env is None and spec.name in tooling
            )
        elif spec.scope in ("part", "django"):
            ok = f'env("{spec.name}"' in settings_text
        else:  # test tooling
            ok = spec.name in tooling or spec.name in settings_text or spec.name in read_by_code
        if not ok:
            unread.append(spec.name)
    assert not unread, f"declared in tasks_app/conf.py but never read: {unread}"


def test_the_table_gives_the_declared_defaults():
    """Where the table's default is one plain value, it is the declared default."""
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| `([^`|]*)` \|", TABLE, re.M)
    assert len(rows) > 50
    wrong = {}
    for name, shown in rows:
        spec = conf.DECLARED[name]
        if spec.parse is None or spec.computed:
            continue
        default = spec.default
        expected = spec.parse(shown)
        if isinstance(default, bool):
            same = expected == default
        elif isinstance(default, int | float):
            same = float(expected) == float(default)
        else:
            same = expected == default
        if not same:
            wrong[name] = (shown, default)
    assert not wrong, f"docs/deployment.md and tasks_app/conf.py disagree: {wrong}"


def test_env_parses_like_the_declaration():
    environ = {"ARBOR_WORKERS": "7", "DEBUG": "no", "ARBOR_HTTP_ALLOWED_HOSTS": "a.example, b.example,"}
    assert conf.env("ARBOR_WORKERS", environ=environ) == 7
    assert conf.env("DEBUG", environ=environ) is False
    assert conf.env("ARBOR_HTTP_ALLOWED_HOSTS", environ=environ) == ["a.example", "b.example"]
    assert conf.env("ARBOR_LEASE_SECONDS", environ={"ARBOR_LEASE_SECONDS": ""}) == 10.0  # empty = unset
    assert conf.env("ARBOR_SHELL_PASS_ENV", environ={"ARBOR_SHELL_PASS_ENV": ""}) == []
    assert conf.env("ARBOR_DB_POOL_SIZE", 10, environ={}) == 10


def test_get_reads_settings_at_call_time_and_refuses_undeclared_names(settings):
    settings.ARBOR_METRICS_WINDOW = 12.5
    assert conf.get("ARBOR_METRICS_WINDOW") == 12.5
    del settings.ARBOR_METRICS_WINDOW
    assert conf.get("ARBOR_METRICS_WINDOW") == 300.0
    with pytest.raises(KeyError, match="not declared"):
        conf.get("ARBOR_NO_SUCH_SETTING")


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def test_every_environment_variable_of_the_settings_is_documented():
    names = set(ENV_READ.findall(SETTINGS))
    assert {"DATABASE_URL", "SECRET_KEY", "ARBOR_WORKERS", "ARBOR_METRICS_TOKEN"} <= names
    table = DOC.split("## Environment reference", 1)[1]
    missing = sorted(n for n in names if f"`{n}`" not in table)
    assert not missing, f"add these to the table in docs/deployment.md: {missing}"


def test_procfile_roles_match_the_doc():
    roles = procfile()
    assert set(roles) == {"release", "web", "worker"}
    assert roles["worker"] == "python manage.py arbor_worker"
    assert "daphne" in roles["web"] and "--proxy-headers orchestrator_site.asgi:application" in roles["web"]
    assert "migrate --noinput" in roles["release"] and "collectstatic --noinput" in roles["release"]
    assert "daphne -b 127.0.0.1 -p 8001 --proxy-headers orchestrator_site.asgi:application" in DOC


def test_systemd_units_drain_workers_gracefully():
    worker = (ROOT / "deploy" / "arbor-worker@.service").read_text()
    assert "KillMode=mixed" in worker  # never SIGTERM the whole django-q2 process group
    assert "ExecStart=/srv/arbor/venv/bin/python manage.py arbor_worker" in worker
    grace = int(re.search(r"^TimeoutStopSec=(\d+)$", worker, re.M)[1])
    assert grace >= 30 + 10  # ARBOR_SHUTDOWN_GRACE's default plus the supervisor's margin
    web = (ROOT / "deploy" / "arbor-web@.service").read_text()
    assert "orchestrator_site.asgi:application" in web and "EnvironmentFile=/etc/arbor/arbor.env" in web


def test_files_the_doc_names_exist():
    for path in re.findall(r"`((?:deploy|scripts|tests/ops)/[\w@./-]+)`", DOC):
        assert (ROOT / path).exists(), path
