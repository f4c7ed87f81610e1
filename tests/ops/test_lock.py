"""requirements.lock (what `make` installs) agrees with pyproject.toml (what the project declares):
every declared requirement, runtime and dev, is pinned there to a version its specifier allows, and
every pin carries hashes. When this fails, regenerate the lock with `make lock` and commit it."""

import re
import tomllib

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import ROOT

LOCK = (ROOT / "requirements.lock").read_text()
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=\S+)*)", re.M)


def pins() -> dict[str, tuple[str, int]]:
    """Lock entries: canonical name -> (version, number of hashes)."""
    return {canonicalize_name(m[1]): (m[2], m[3].count("--hash=sha256:")) for m in PIN.finditer(LOCK)}


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [Requirement(spec) for spec in [*project["dependencies"], *extras.get("dev", [])]]


def test_every_declared_requirement_is_pinned_to_an_allowed_version():
    locked = pins()
    missing = [str(r) for r in declared() if canonicalize_name(r.name) not in locked]
    assert not missing, f"not in requirements.lock (run `make lock`): {missing}"
    outside = [
        f"{r} (locked {locked[canonicalize_name(r.name)][0]})"
        for r in declared()
        if not r.specifier.contains(locked[canonicalize_name(r.name)][0], prereleases=True)
    ]
    assert not outside, (
        f"requirements.lock pins versions pyproject.toml excludes (run `make lock`): {outside}"
    )


def test_the_lock_is_generated_from_pyproject_with_dev_extras_and_hashes():
    assert "pip-compile" in LOCK and "--extra=dev" in LOCK and "pyproject.toml" in LOCK
    locked = pins()
    assert len(locked) > len(declared())  # transitive dependencies are pinned too
    unhashed = sorted(name for name, (_, hashes) in locked.items() if hashes == 0)
    assert not unhashed, f"pins without --hash (pip would refuse the file): {unhashed}"
    assert "--find-links" not in LOCK and "--index-url" not in LOCK  # nothing of this machine's pip config
