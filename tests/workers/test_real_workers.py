"""SEMANTICS.md through real worker processes, the CLI on every example, and `make run`'s roles."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tasks_app.models import Attempt, Task, Tree
from tests.helpers import wait_for

from .conftest import ROOT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.workers]

EXAMPLES = {
    "sequential_pipeline.json": ("completed", {"pipeline": "completed", "load": "completed"}),
    "fan_out.json": ("completed", {"shard_4": "completed"}),
    "fan_in.json": ("completed", {"report": "completed"}),
    "complex_workflow.json": ("completed", {"release": "completed", "integration": "completed"}),
    # the failure is handled by the optional dependencies: the run completes (SEMANTICS "Tree status")
    "conditional_fallback.json": (
        "completed",
        {"primary": "failed", "fallback": "completed", "final": "completed", "fetch_prices": "completed"},
    ),
}


def manage(args, env, timeout=120):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_via_cli_reaches_predicted_outcome(example, user, subprocess_env):
    env = {**subprocess_env, "ARBOR_DISPATCH": "none", "ARBOR_CLI_USER": user.username}
    created = manage(["arbor", "create", f"examples/{example}"], env)
    assert created.returncode == 0, created.stderr
    tree_id = created.stdout.strip()
    ran = manage(["arbor", "run", tree_id, "--wait", "--inline", "--timeout", "60"], env)
    tree_status, task_statuses = EXAMPLES[example]
    assert ran.returncode == (0 if tree_status == "completed" else 1), ran.stderr
    assert ran.stdout.strip().endswith(tree_status)
    tree = Tree.objects.get(id=tree_id)
    assert tree.status == tree_status
    statuses = dict(Task.objects.filter(tree=tree).values_list("name", "status"))
    for name, status in task_statuses.items():
        assert statuses[name] == status
    shown = manage(["arbor", "show", tree_id], env)
    assert shown.returncode == 0 and "✔" in shown.stdout


def test_fallback_final_runs_after_primary_fails(user, subprocess_env):
    env = {**subprocess_env, "ARBOR_DISPATCH": "none", "ARBOR_CLI_USER": user.username}
    tree_id = manage(["arbor", "create", "examples/conditional_fallback.json"], env).stdout.strip()
    manage(["arbor", "run", tree_id, "--wait", "--inline", "--timeout", "60"], env)
    starts = {a.task.name: a for a in Attempt.objects.filter(tree_id=tree_id).select_related("task")}
    assert starts["primary"].finished_at <= starts["final"].started_at
    final = Task.objects.get(tree_id=tree_id, name="final")
    assert final.result["results"]["fallback"] == {"prices": [101, 99], "source": "cache"}
    assert "primary" not in final.result["results"]


def test_semantics_through_a_real_worker_cluster(tm, subprocess_env, processes):
    tasks = [
        {"id": "root", "name": "root", "executor": "aggregate_results", "dependencies": ["merge"]},
        {"id": "a", "name": "a", "executor": "echo", "parent_id": "root", "inputs": {"result": {"x": 1}}},
        {"id": "b", "name": "b", "executor": "sleep", "parent_id": "root", "inputs": {"seconds": 0.2}},
        {
            "id": "merge",
            "name": "merge",
            "executor": "echo",
            "parent_id": "root",
            "dependencies": ["a", "b"],
            "inputs": {"own": 1},
        },
        {"id": "bad", "name": "bad", "executor": "fail", "parent_id": "root"},
        {
            "id": "blocked",
            "name": "blocked",
            "executor": "noop",
            "parent_id": "root",
            "dependencies": ["bad"],
        },
        {
            "id": "optional",
            "name": "optional",
            "executor": "noop",
            "parent_id": "root",
            "dependencies": [{"id": "bad", "required": False}],
        },
    ] + [
        {"id": f"p{i}", "name": f"p{i}", "executor": "noop", "parent_id": "root", "priority": i % 4}
        for i in range(40)
    ]
    tree = tm.create_tree(tasks)
    worker = processes.start(["arbor_worker"], {**subprocess_env, "ARBOR_WORKERS": "2"})
    time.sleep(0.5)
    tm.execute(tree.id)
    wait_for(lambda: Tree.objects.get(id=tree.id).status in {"completed", "failed", "cancelled"}, timeout=60)
    status = dict(Task.objects.filter(tree=tree).values_list("name", "status"))
    assert status["merge"] == "completed" and status["root"] == "completed"
    assert status["bad"] == "failed" and status["optional"] == "completed"
    blocked = Task.objects.get(tree=tree, name="blocked")
    assert blocked.status == "cancelled" and blocked.error_type == "upstream_failed"
    assert Task.objects.get(tree=tree, name="merge").result == {"own": 1, "x": 1, "slept": 0.2}
    assert Tree.objects.get(id=tree.id).status == "failed"
    # at most once per run, and required dependencies finished first
    for task in Task.objects.filter(tree=tree).exclude(status="cancelled"):
        assert Attempt.objects.filter(task=task).count() == 1
    merge_start = Attempt.objects.get(task__tree=tree, task__name="merge").started_at
    for dep in ("a", "b"):
        assert Attempt.objects.get(task__tree=tree, task__name=dep).finished_at <= merge_start
    workers = set(Attempt.objects.filter(tree=tree).values_list("worker", flat=True))
    assert workers and all(":" in w for w in workers)
    started = time.monotonic()
    assert processes.stop(worker, timeout=40) == 0
    assert time.monotonic() - started < 30


def test_make_run_roles_serve_and_stop_cleanly(user, subprocess_env, processes, tmp_path):
    env = {**subprocess_env, "ARBOR_DISPATCH": "none", "ARBOR_DEMO_USER": "demo-e2e"}
    demo = manage(["arbor_demo"], env)
    assert demo.returncode == 0 and "demo-arbor" in demo.stdout
    with socket.socket() as probe:  # a free port: parallel runs of the suite must not collide
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    up = processes.start(
        ["arbor_up", "--port", str(port)],
        {**subprocess_env, "ALLOWED_HOSTS": "127.0.0.1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def login_page():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    wait_for(login_page, timeout=30, interval=0.2)
    wait_for(
        lambda: (
            not Tree.objects.filter(
                owner__username="demo-e2e", status__in=["pending", "in_progress"]
            ).exists()
        ),
        timeout=60,
        interval=0.2,
    )
    assert set(Tree.objects.filter(owner__username="demo-e2e").values_list("status", flat=True)) <= {
        "completed",
        "failed",
    }
    up.send_signal(signal.SIGINT)  # what Ctrl-C does
    out, _ = up.communicate(timeout=60)
    assert up.returncode == 0, out
    assert f"Arbor is running at http://127.0.0.1:{port}/" in out and "Arbor stopped." in out


def test_examples_are_valid_json_arrays():
    for path in Path(ROOT / "examples").glob("*.json"):
        data = json.loads(path.read_text())
        assert isinstance(data, list) and data
