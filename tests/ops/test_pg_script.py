"""scripts/pg.sh from a clone the `postgres` user cannot enter (a private 0700 directory such as
root's home): the private server keeps its files where it can reach them, and `make test` works."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or shutil.which("su") is None
    or not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")),
    reason="needs root and Debian's PostgreSQL (as in CI)",
)


def test_private_clone_gets_a_server_outside_the_clone(tmp_path):
    private = tmp_path / "home"
    (private / "clone" / "scripts").mkdir(parents=True)
    private.chmod(0o700)
    script = private / "clone" / "scripts" / "pg.sh"
    shutil.copy(ROOT / "scripts" / "pg.sh", script)
    env = {**os.environ, "ARBOR_PG_PORT": "15439"}
    env.pop("ARBOR_PG_DIR", None)
    try:
        url = subprocess.run(
            ["bash", str(script), "start"], env=env, capture_output=True, text=True, timeout=120, check=True
        ).stdout.strip()
        assert str(private) not in url.replace("%2F", "/")  # its socket lives outside the clone
        probe = "import psycopg,sys; print(psycopg.connect(sys.argv[1]).execute('SELECT 41+1').fetchone()[0])"
        out = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == "42", out.stderr
    finally:
        subprocess.run(["bash", str(script), "destroy"], env=env, capture_output=True, timeout=120)
    # its files are gone with it (this clone's directory only: another run may use the same port)
    digest = hashlib.sha1(str(private / "clone").encode()).hexdigest()[:12]
    assert not Path(f"/var/tmp/arbor-pg-{digest}/pg-15439").exists()
