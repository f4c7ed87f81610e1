"""docs/deployment.md, the Procfile and deploy/ agree with the code."""

import re

from .conftest import ROOT

DOC = (ROOT / "docs" / "deployment.md").read_text()
SETTINGS = (ROOT / "orchestrator_site" / "settings.py").read_text()
ENV_READ = re.compile(r'(?:env(?:bool|int|float|list)\(|os\.environ\.get\()\s*"([A-Z][A-Z0-9_]*)"')


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
