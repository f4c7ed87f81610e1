"""apflow's CLI in API mode against a served Arbor: each command once, checked on its output.
Run with the apflow virtualenv's python; env: ARBOR_URL, ARBOR_TOKEN, APFLOW_BIN. Prints one
line per command ("PASS name" / "FAIL name: why") and a final "N passed, M failed"."""

import json
import os
import subprocess
import sys
import tempfile
import uuid

APFLOW = os.environ.get("APFLOW_BIN", "apflow")
ENV = {
    **os.environ,
    "APFLOW_CONFIG_DIR": tempfile.mkdtemp(prefix="apflow-cfg-"),
    "APFLOW_BASE_URL": os.environ["ARBOR_URL"],
    "APFLOW_ADMIN_AUTH_TOKEN": os.environ["ARBOR_TOKEN"],
    # a local database the CLI would fall back to: any answer from it is a failure below
    "APFLOW_DATABASE_URL": "duckdb:///" + os.path.join(tempfile.mkdtemp(prefix="apflow-db-"), "local.duckdb"),
}
results: list[tuple[str, bool, str]] = []


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([APFLOW, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def check(name: str, ok: bool, why: str = "") -> None:
    results.append((name, ok, why))
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else f": {why[:300]}"), flush=True)


def json_out(proc) -> object:
    text = proc.stdout
    start = min([i for i in (text.find("{"), text.find("[")) if i >= 0], default=-1)
    if start < 0:
        raise ValueError(f"no JSON in output: {text[:200]!r} {proc.stderr[-300:]!r}")
    return json.JSONDecoder().raw_decode(text[start:])[0]


def client_call(method: str, *args, **kwargs):
    """One call through the CLI's own API client (apflow.cli.api_client.APIClient)."""
    import asyncio

    from apflow.cli.api_client import APIClient

    async def go():
        async with APIClient(server_url=ENV["APFLOW_BASE_URL"], auth_token=ENV["APFLOW_ADMIN_AUTH_TOKEN"]) as c:
            return await getattr(c, method)(*args, **kwargs)

    return asyncio.run(go())


def main() -> int:
    ref = f"cli-{uuid.uuid4().hex[:8]}"
    # the CLI's create: one task (with several, apflow's CLI expects {"task": ...} and crashes on the
    # list that apflow's own server returns; docs/apflow.md)
    path = os.path.join(tempfile.mkdtemp(), "tasks.json")
    with open(path, "w") as f:
        json.dump([{"id": f"{ref}-single", "name": f"{ref}-single", "executor": "noop"}], f)
    try:
        proc = run("tasks", "create", "--file", path)
        created = json_out(proc)
        check("tasks create", proc.returncode == 0 and created.get("ref") == f"{ref}-single",
              f"rc={proc.returncode} " + (proc.stdout + proc.stderr)[-400:])
    except Exception as exc:
        check("tasks create", False, str(exc))
    try:  # a tree with a child, through the CLI's client
        created = client_call("create_tasks", [
            {"id": ref, "name": f"{ref}-root", "schemas": {"method": "aggregate_results_executor"},
             "dependencies": [{"id": f"{ref}-child", "required": True}], "inputs": {}},
            {"id": f"{ref}-child", "name": f"{ref}-child", "parent_id": ref, "executor": "echo", "inputs": {"v": 1}},
        ])
        root_id = created[0]["id"]
        slow = client_call("create_tasks", [{"id": f"{ref}-slow", "name": f"{ref}-slow", "executor": "sleep",
                                             "inputs": {"seconds": 30}}])
        slow_id = slow["id"]
    except Exception as exc:
        check("APIClient.create_tasks (the CLI's client)", False, str(exc))
        print(f"{sum(ok for _, ok, _ in results)} passed, {sum(not ok for _, ok, _ in results)} failed")
        return 1
    check("APIClient.create_tasks (the CLI's client)", True)
    try:
        answer = client_call("execute_task", slow_id)
        check("APIClient.execute_task (the CLI's client)", answer.get("root_task_id") == slow_id, str(answer))
    except Exception as exc:
        check("APIClient.execute_task (the CLI's client)", False, str(exc))
    for name, args, predicate in [
        ("tasks list", ("tasks", "list"), lambda p: ref in p.stdout),
        ("tasks get", ("tasks", "get", root_id), lambda p: json_out(p).get("ref") == ref),
        ("tasks get (client id)", ("tasks", "get", ref), lambda p: json_out(p).get("id") == root_id),
        ("tasks tree", ("tasks", "tree", root_id), lambda p: f"{ref}-child" in p.stdout),
        ("tasks children", ("tasks", "children", "--parent-id", root_id), lambda p: f"{ref}-child" in p.stdout),
        ("tasks count", ("tasks", "count"), lambda p: p.returncode == 0 and "total" in p.stdout.lower()),
        ("tasks status", ("tasks", "status", root_id), lambda p: root_id in p.stdout or ref in p.stdout),
        ("tasks clone --dry-run", ("tasks", "clone", root_id, "--dry-run"), lambda p: f"{ref}-child" in p.stdout),
        ("tasks clone", ("tasks", "clone", root_id), lambda p: p.returncode == 0 and "Successfully" in p.stdout),
        ("tasks update", ("tasks", "update", f"{ref}-child", "--inputs", '{"v": 2}'),
         lambda p: p.returncode == 0 and '"v": 2' in p.stdout),
        ("tasks cancel", ("tasks", "cancel", slow_id), lambda p: p.returncode == 0 and "cancelled" in p.stdout),
        ("tasks delete", ("tasks", "delete", f"{ref}-single"), lambda p: p.returncode == 0),
        ("tasks scheduled list", ("tasks", "scheduled", "list"),
         lambda p: p.returncode == 0 and "-32601" not in p.stdout + p.stderr and "404" not in p.stdout + p.stderr),
    ]:
        try:
            proc = run(*args)
            check(name, bool(predicate(proc)), (proc.stdout + proc.stderr)[-400:])
        except Exception as exc:
            check(name, False, str(exc))
    passed = sum(1 for _, ok, _ in results if ok)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
