"""The page scripts are ES modules (static/tasks_app/js): their relative imports resolve in the
source tree, and a hashing storage (Django's ManifestStaticFilesStorage with
``support_js_module_import_aggregation``) rewrites them to the hashed names it writes, so a switch
of STORAGES to hashed, cache-forever names would keep the module graph intact."""

import json
import re

import pytest
from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from django.core.management import call_command
from django.test import override_settings

from .conftest import ROOT
from .test_production_settings import module_imports_missing

JS = ROOT / "static" / "tasks_app" / "js"
SPEC = re.compile(r"""\bfrom\s*["']([^"']+)["']""")


class ModuleManifestStorage(ManifestStaticFilesStorage):
    """Django's hashing storage, rewriting ``import … from "./x.js"`` to the hashed names. Only the
    module patterns: the vendored cytoscape-dagre.min.js names a source map that is not vendored,
    which the default ``sourceMappingURL`` pattern refuses (a switch to this storage needs the same),
    and more passes than the default 5: each pass settles one more level of the import chains."""

    support_js_module_import_aggregation = True
    patterns = ()
    max_post_process_passes = 20


def test_every_relative_import_in_the_source_tree_resolves():
    assert module_imports_missing(JS) == []


def test_no_module_is_over_about_400_lines():
    sizes = {str(f.relative_to(JS)): len(f.read_text().splitlines()) for f in JS.rglob("*.js")}
    assert {f: n for f, n in sizes.items() if n > 410 and not f.startswith("tests/")} == {}


@pytest.mark.slow
def test_a_hashing_storage_rewrites_module_imports_to_hashed_names(tmp_path):
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "tests.ops.test_static_modules.ModuleManifestStorage"},
    }
    with override_settings(STORAGES=storages, STATIC_ROOT=tmp_path):
        call_command("collectstatic", "--noinput", "-v0")
    manifest = json.loads((tmp_path / "staticfiles.json").read_text())["paths"]
    hashed = manifest["tasks_app/js/editor.js"]
    assert hashed != "tasks_app/js/editor.js"
    imports = SPEC.findall((tmp_path / hashed).read_text())
    assert imports and all(re.search(r"\.[0-9a-f]{12}\.js$", spec) for spec in imports), imports
    # every hashed module's imports name hashed files that exist
    missing = []
    for name, target in manifest.items():
        if name.startswith("tasks_app/js/") and name.endswith(".js") and "/tests/" not in name:
            f = tmp_path / target
            for spec in SPEC.findall(f.read_text()):
                if spec.startswith(".") and not (f.parent / spec).resolve().is_file():
                    missing.append(f"{target}: {spec}")
    assert missing == []


EXPORT = re.compile(
    r"^export\s+(?:async\s+)?(?:function\*?|const|let|var|class)\s+([\w$]+)|^export\s*\{([^}]*)\}", re.M
)
NAMED_IMPORT = re.compile(r"""^(?:import|export)\s*\{([^}]*)\}\s*from\s*["'](\.[^"']+)["']""", re.M)


def exported_names(path):
    names = set()
    for one, many in EXPORT.findall(path.read_text()):
        names |= {one} if one else {n.split(" as ")[-1].strip() for n in many.split(",") if n.strip()}
    return names


def test_every_named_import_is_exported_by_its_module():
    """A module that imports a name its target does not export fails to load at all (SyntaxError)."""
    missing = []
    for f in JS.rglob("*.js"):
        if "tests" in f.relative_to(JS).parts:
            continue
        for names, spec in NAMED_IMPORT.findall(f.read_text()):
            target = (f.parent / spec).resolve()
            have = exported_names(target)
            for n in (x.split(" as ")[0].strip() for x in names.split(",") if x.strip()):
                if n not in have:
                    missing.append(f"{f.relative_to(JS)}: {n} from {spec}")
    assert missing == []
