"""docs/deployment.md, followed step by step by scripts/deploy_check.sh (its own PostgreSQL)."""

import os
import re
import subprocess

import pytest

from .conftest import ROOT, is_postgres

pytestmark = [
    pytest.mark.workers,
    pytest.mark.skipif(
        not is_postgres(), reason="the deployment doc targets PostgreSQL (runs in the PostgreSQL suite)"
    ),
    pytest.mark.timeout(300),
]


def test_deploy_check_script_follows_the_doc():
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    }
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "deploy_check.sh")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert "readyz: database=ok, broker=ok" in out
    assert "login page: 200" in out
    assert re.search(r"^tree [0-9a-f-]{36}: completed$", out, re.M)
    assert out.rstrip().endswith("deploy check passed")
