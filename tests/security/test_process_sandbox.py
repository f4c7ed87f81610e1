"""Item 1: a process started by an executor gets a minimal environment and its own directory.

The attack: with ``bash -c 'echo hello'`` allow-listed, a non-staff user set
``BASH_FUNC_echo%%`` in ``inputs.env`` and got ``root`` and the server's ``SECRET_KEY`` back; the
child inherited the worker's whole environment and ran in a user-chosen ``cwd``.
"""

import os
import tempfile

import pytest
from django.conf import settings
from django.test import override_settings

from tasks_app.executors import ExecutionContext, PermanentError, check_registry, get_executor, sandbox
from tasks_app.executors.shell import ShellCommandExecutor

from .conftest import t


@pytest.fixture(autouse=True)
def _granted(executor_grants):
    """The user of these tests may use the dangerous executors (docs/security.md): what is
    tested here is what a granted user can still not do."""


pytestmark = pytest.mark.django_db

BASH_ECHO = "bash -c 'echo hello'"
EXPLOIT_ENV = {"BASH_FUNC_echo%%": "() { id -un; printenv SECRET_KEY; }"}
DENIED = [
    "BASH_FUNC_echo%%",
    "BASH_FUNC_ls",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "PYTHONPATH",
    "PYTHONSTARTUP",
    "PYTHONWARNINGS",
    "PERL5OPT",
    "NODE_OPTIONS",
    "GIT_SSH_COMMAND",
    "GIT_CONFIG_GLOBAL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "DYLD_INSERT_LIBRARIES",
    "ld_preload",
]
SANDBOX_NAMES = {"PATH", "LANG", "HOME", "TMPDIR", "PWD"}


@pytest.fixture
def worker_secrets(monkeypatch):
    """The worker's environment holds secrets, as it does in production."""
    monkeypatch.setenv("SECRET_KEY", settings.SECRET_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgres://arbor:db-password@db/arbor")
    monkeypatch.setenv("ARBOR_DEMO_TOKEN", "operator-value")


@pytest.fixture
def attempt_root(tmp_path, monkeypatch):
    """Per-attempt directories are created here, so a test can see that they are removed."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def ctx(**overrides):
    values = {"task_id": "t1", "attempt_id": "a1", "attempt_number": 1, "task_name": "t", "task_key": "k"}
    return ExecutionContext(**{**values, **overrides})


def shell(command, **config):
    return ShellCommandExecutor({"ARBOR_SHELL_ALLOWED_COMMANDS": [command], **config})


def run_task(api, make_tree, drain, tasks):
    _, made = make_tree(tasks, execute=True)
    drain()
    return api.get(f"/api/v1/tasks/{made['p']['id']}/").json()


def shell_task(**inputs):
    return t("p", "shell_command", inputs=inputs)


def injected(**inputs):
    """``p``'s own inputs are harmless; its upstream's result is merged into them at run time."""
    command = inputs.pop("command")
    return [
        t("r"),
        t("up", "echo", parent_id="r", inputs={"result": inputs}),
        t("p", "shell_command", parent_id="r", dependencies=["up"], inputs={"command": command}),
    ]


def create_error(api, tasks):
    resp = api.post("/api/v1/trees/", tasks, format="json")
    assert resp.status_code == 400, resp.json()
    return resp.json()["error"]["message"]


def env_lines(stdout):
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


# --- the reported exploit, through the API ----------------------------------------------------


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=[BASH_ECHO])
def test_bash_func_exploit_is_refused_at_creation(api):
    message = create_error(api, [shell_task(command=BASH_ECHO, env=EXPLOIT_ENV)])
    assert "BASH_FUNC_echo%%" in message and "never allowed" in message


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=[BASH_ECHO])
def test_bash_func_exploit_through_a_dependency_result_fails_at_run_time(
    api, make_tree, drain, worker_secrets
):
    task = run_task(api, make_tree, drain, injected(command=BASH_ECHO, env=EXPLOIT_ENV))
    assert task["status"] == "failed"
    assert "BASH_FUNC_echo%%" in task["error"] and "never allowed" in task["error"]
    assert settings.SECRET_KEY not in str(task)
    assert task["result"] is None


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=[BASH_ECHO], ARBOR_SHELL_USER_ENV=["BASH_FUNC_echo%%"])
def test_bash_func_is_refused_even_when_the_operator_allows_it(api, make_tree, drain, worker_secrets):
    assert "BASH_FUNC_echo%%" in create_error(api, [shell_task(command=BASH_ECHO, env=EXPLOIT_ENV)])
    task = run_task(api, make_tree, drain, injected(command=BASH_ECHO, env=EXPLOIT_ENV))
    assert task["status"] == "failed" and "BASH_FUNC_echo%%" in task["error"]
    assert settings.SECRET_KEY not in str(task)
    assert any("BASH_FUNC_echo%%" in message for message in check_registry())


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=["env"])
def test_child_environment_holds_no_worker_secret(api, make_tree, drain, worker_secrets):
    before = dict(os.environ)
    task = run_task(api, make_tree, drain, [shell_task(command="env")])
    assert task["status"] == "completed", task["error"]
    env = env_lines(task["result"]["stdout"])
    assert "SECRET_KEY" not in env and "DATABASE_URL" not in env and "ARBOR_DEMO_TOKEN" not in env
    assert settings.SECRET_KEY not in task["result"]["stdout"]
    assert set(env) == SANDBOX_NAMES
    assert env["HOME"] == env["TMPDIR"] == env["PWD"]
    assert not os.path.exists(env["HOME"])  # the attempt's directory is gone
    assert dict(os.environ) == before  # the worker's own environment is untouched


@override_settings(
    ARBOR_SHELL_ALLOWED_COMMANDS=["env"],
    ARBOR_SHELL_PASS_ENV=["ARBOR_DEMO_TOKEN", "NOT_SET"],
    ARBOR_SHELL_USER_ENV=["REPORT_NAME"],
)
def test_operator_pass_through_and_user_allow_list(api, make_tree, drain, worker_secrets):
    task = run_task(api, make_tree, drain, [shell_task(command="env", env={"REPORT_NAME": "weekly"})])
    assert task["status"] == "completed", task["error"]
    env = env_lines(task["result"]["stdout"])
    assert set(env) == SANDBOX_NAMES | {"ARBOR_DEMO_TOKEN", "REPORT_NAME"}
    assert env["ARBOR_DEMO_TOKEN"] == "operator-value" and env["REPORT_NAME"] == "weekly"


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=["env"])
def test_user_env_name_not_allowed_is_refused_at_creation(api):
    message = create_error(api, [shell_task(command="env", env={"REPORT_NAME": "weekly"})])
    assert "'REPORT_NAME'" in message and "ARBOR_SHELL_USER_ENV" in message


def test_user_env_name_no_longer_allowed_fails_at_run_time(api, make_tree, drain):
    with override_settings(ARBOR_SHELL_USER_ENV=["REPORT_NAME"]):
        tree, made = make_tree([shell_task(command="env", env={"REPORT_NAME": "weekly"})])
    with override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=["env"]):
        assert api.post(f"/api/v1/trees/{tree['id']}/execute/").status_code in (200, 202)
        drain()
    task = api.get(f"/api/v1/tasks/{made['p']['id']}/").json()
    assert task["status"] == "failed" and task["error_type"] == "not_allowed"
    assert "'REPORT_NAME'" in task["error"] and "ARBOR_SHELL_USER_ENV" in task["error"]


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=["pwd"])
@pytest.mark.parametrize("cwd", ["/", "/etc", "..", "../..", "a/../../..", "~", "~root"])
def test_cwd_outside_the_attempt_directory_is_refused(api, make_tree, drain, cwd):
    assert "inputs.cwd" in create_error(api, [shell_task(command="pwd", cwd=cwd)])
    task = run_task(api, make_tree, drain, injected(command="pwd", cwd=cwd))
    assert task["status"] == "failed"
    assert "inputs.cwd" in task["error"]
    assert task["result"] is None


@override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=[BASH_ECHO])
def test_editing_a_task_checks_its_inputs_too(api, make_tree):
    _, made = make_tree([shell_task(command=BASH_ECHO)])
    url = f"/api/v1/tasks/{made['p']['id']}/"
    resp = api.patch(url, {"inputs": {"command": BASH_ECHO, "env": EXPLOIT_ENV}}, format="json")
    assert resp.status_code == 400 and "BASH_FUNC_echo%%" in resp.json()["error"]["message"]
    resp = api.patch(url, {"inputs": {"command": BASH_ECHO, "cwd": "/etc"}}, format="json")
    assert resp.status_code == 400 and "inputs.cwd" in resp.json()["error"]["message"]
    assert api.patch(url, {"inputs": {"command": BASH_ECHO, "cwd": "out"}}, format="json").status_code == 200


# --- direct executor tests --------------------------------------------------------------------


@pytest.mark.parametrize("name", DENIED)
def test_denied_names_are_refused_even_if_allow_listed(name, attempt_root):
    executor = shell("env", ARBOR_SHELL_USER_ENV=[name])
    with pytest.raises(PermanentError, match="never allowed") as excinfo:
        executor.execute({"command": "env", "env": {name: "x"}}, ctx())
    assert name in str(excinfo.value)


@pytest.mark.parametrize("name", ["LD_PRELOAD", "PYTHONPATH", "BASH_ENV", "GIT_DIR"])
def test_denied_names_in_the_pass_through_list_refuse_to_run(name, monkeypatch, attempt_root):
    monkeypatch.setenv(name, "/tmp/evil")
    with pytest.raises(PermanentError, match=f"ARBOR_SHELL_PASS_ENV lists '{name}'"):
        shell("env", ARBOR_SHELL_PASS_ENV=[name]).execute({"command": "env"}, ctx())


@pytest.mark.parametrize("name", ["PATH", "HOME", "TMPDIR", "PWD"])
def test_sandbox_names_cannot_be_overridden(name, attempt_root):
    with pytest.raises(PermanentError, match="set by Arbor's sandbox"):
        shell("env", ARBOR_SHELL_USER_ENV=[name]).execute({"command": "env", "env": {name: "/x"}}, ctx())


def test_registry_config_refuses_the_exploit(attempt_root, worker_secrets):
    with override_settings(ARBOR_SHELL_ALLOWED_COMMANDS=[BASH_ECHO]):
        executor = get_executor("shell_command")
    with pytest.raises(PermanentError, match="BASH_FUNC_echo%%"):
        executor.execute({"command": BASH_ECHO, "env": EXPLOIT_ENV}, ctx())


def test_relative_cwd_runs_inside_a_fresh_directory_removed_afterwards(attempt_root):
    result = shell("pwd").execute({"command": "pwd", "cwd": "work/out"}, ctx())
    path = result["stdout"].strip()
    assert os.path.dirname(os.path.dirname(path)).startswith(str(attempt_root))
    assert path.endswith("/work/out")
    assert list(attempt_root.iterdir()) == []


def test_each_attempt_gets_its_own_directory(attempt_root):
    first = shell("pwd").execute({"command": "pwd"}, ctx())["stdout"]
    second = shell("pwd").execute({"command": "pwd"}, ctx())["stdout"]
    assert first != second


def test_directory_is_removed_after_timeout_and_failure(attempt_root):
    slow = "sh -c 'mkdir -p d && chmod 000 d && sleep 30'"
    with pytest.raises(Exception, match="timed out"):
        shell(slow).execute({"command": slow, "timeout": 0.5}, ctx())
    assert list(attempt_root.iterdir()) == []
    failing = "sh -c 'touch f; exit 3'"
    with pytest.raises(Exception, match="status 3"):
        shell(failing).execute({"command": failing}, ctx())
    assert list(attempt_root.iterdir()) == []


def test_directory_is_removed_after_cancel(attempt_root):
    import threading

    command = "sh -c 'echo ready; sleep 30'"
    executor = shell(command)
    context = ctx(log_callback=lambda level, line: started.set())
    started = threading.Event()
    errors = []
    runner = threading.Thread(target=lambda: errors.append(_capture(executor, command, context)))
    runner.start()
    assert started.wait(5)
    assert len(list(attempt_root.iterdir())) == 1
    executor.cancel()
    runner.join(5)
    assert errors and "cancelled" in errors[0]
    assert list(attempt_root.iterdir()) == []


def _capture(executor, command, context):
    try:
        executor.execute({"command": command}, context)
    except Exception as exc:
        return str(exc)
    return "finished"


def test_symlink_escape_is_refused(tmp_path):
    workdir = tmp_path / "attempt"
    workdir.mkdir()
    (workdir / "out").symlink_to("/etc")
    with pytest.raises(PermanentError, match="leaves the attempt's working directory"):
        sandbox.child_cwd(str(workdir), "out")
    with pytest.raises(PermanentError, match="leaves"):
        sandbox.child_cwd(str(workdir), "out/ssl")
    assert sandbox.child_cwd(str(workdir), "in/side") == str((workdir / "in" / "side").resolve())


def test_child_env_is_built_from_nothing_but_the_lists():
    parent = {"SECRET_KEY": "s", "DATABASE_URL": "d", "LANG": "de_DE.UTF-8", "KEEP": "k"}
    env = sandbox.child_env("/w", "/w/x", {"MINE": "m"}, {"ARBOR_SHELL_PASS_ENV": ["KEEP", "LANG"]}, parent)
    assert env == {
        "PATH": sandbox.DEFAULT_PATH,
        "LANG": "de_DE.UTF-8",
        "KEEP": "k",
        "MINE": "m",
        "HOME": "/w",
        "TMPDIR": "/w",
        "PWD": "/w/x",
    }


@pytest.mark.parametrize("name", DENIED + ["A=B", "", "1X", "X Y"])
def test_env_name_denied(name):
    assert sandbox.env_name_denied(name) is True


@pytest.mark.parametrize("name", ["REPORT_NAME", "LANG", "TZ", "http_proxy", "LDAP_HOST", "PYTH"])
def test_env_name_allowed(name):
    assert sandbox.env_name_denied(name) is False


def test_no_other_executor_starts_a_process():
    """Only shell.py may start processes (through the sandbox); a new one must use it too."""
    from pathlib import Path

    root = Path(sandbox.__file__).parent
    starters = ("subprocess", "os.exec", "os.spawn", "os.system", "os.popen", "pty.spawn")
    offenders = [
        path.name
        for path in root.glob("*.py")
        if path.name not in ("shell.py", "sandbox.py") and any(s in path.read_text() for s in starters)
    ]
    assert offenders == []
