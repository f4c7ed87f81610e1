"""The Arbor CLI: create, run, show, cancel, stats.

manage.py arbor create examples/fan_out.json
manage.py arbor run <tree-id> --wait [--timeout 60] [--inline]
manage.py arbor show <tree-id>
manage.py arbor stats
"""

from __future__ import annotations

import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from tasks_app import selectors
from tasks_app.engine.states import Status
from tasks_app.exceptions import OrchestratorError
from tasks_app.taskmanager import TaskManager

MARK = {"pending": "·", "in_progress": "▶", "completed": "✔", "failed": "✘", "cancelled": "⊘"}


class Command(BaseCommand):
    help = "Create, run and inspect task trees."

    def add_arguments(self, parser):
        parser.add_argument(
            "--user", default=None, help="owner (default: ARBOR_CLI_USER, else the demo user 'demo')"
        )
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a tree from a JSON array file (tasks.create format)")
        create.add_argument("file")
        create.add_argument("--run", action="store_true", help="execute it right away")
        run = sub.add_parser("run", help="execute a tree (or one task with its upstream)")
        run.add_argument("id")
        run.add_argument("--wait", action="store_true", help="wait for the run to end, with a progress bar")
        run.add_argument("--timeout", type=float, default=None)
        run.add_argument("--inline", action="store_true", help="run the workers in this process (no cluster)")
        show = sub.add_parser("show", help="print a tree with statuses")
        show.add_argument("id")
        cancel = sub.add_parser("cancel", help="cancel a tree or a task")
        cancel.add_argument("id")
        stats = sub.add_parser("stats", help="execution statistics")
        stats.add_argument("--tree", default=None)

    def handle(self, *args, **opts):
        tm = TaskManager(self._user(opts["user"]), source="cli")
        try:
            return getattr(self, f"do_{opts['action']}")(tm, opts)
        except OrchestratorError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from None

    def _user(self, name):
        from tasks_app import conf

        User = get_user_model()
        name = name or conf.env("ARBOR_CLI_USER")
        if name:
            try:
                return User.objects.get(username=name)
            except User.DoesNotExist:
                raise CommandError(f"no user '{name}'") from None
        user = User.objects.filter(username="demo").first()
        if user is None:  # never create a user behind the operator's back
            raise CommandError(
                "whose trees? pass --user NAME or set ARBOR_CLI_USER "
                "(the default, the demo user 'demo', does not exist)"
            )
        return user

    def do_create(self, tm, opts):
        try:
            with open(opts["file"]) as fh:
                tasks = json.load(fh)
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"cannot read {opts['file']}: {exc}") from None
        tree = tm.create_tree(tasks)
        self.stdout.write(str(tree.id))
        if opts["run"]:
            tm.execute(tree.id)

    def do_run(self, tm, opts):
        tree = tm.execute(opts["id"])
        if opts["inline"]:
            from tasks_app.worker.loop import run_until_idle

            run_until_idle(hard_kill=False, timeout=opts["timeout"] or 3600)
        if not opts["wait"]:
            self.stdout.write(f"{tree.id} {tree.status}")
            return
        total = tree.task_count

        def tick(t):
            counts = selectors.execution_stats(tm.user, tree_id=t.id)["counts"]
            done = counts["completed"] + counts["failed"] + counts["cancelled"]
            width = 30
            filled = int(width * done / max(1, total))
            sys.stderr.write(
                f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                f"✔{counts['completed']} ✘{counts['failed']} ⊘{counts['cancelled']} "
                f"▶{counts['in_progress']}   "
            )
            sys.stderr.flush()

        try:
            tree = tm.wait(tree.id, timeout=opts["timeout"], on_tick=tick)
        except TimeoutError as exc:
            sys.stderr.write("\n")
            raise CommandError(str(exc)) from None
        sys.stderr.write("\n")
        self.stdout.write(f"{tree.id} {tree.status}")
        if tree.status != Status.COMPLETED.value:
            sys.exit(1)

    def do_show(self, tm, opts):
        task = tm.get_task(opts["id"])
        tree = task.tree
        tasks = selectors.tree_tasks(tree.id)
        deps = selectors.tree_dependencies(tree.id)
        names = {t.id: t.name for t in tasks}
        children: dict = {}
        for t in tasks:
            children.setdefault(t.parent_id, []).append(t)
        handled = f" · {_handled(tree.handled_failures)}" if tree.handled_failures else ""
        self.stdout.write(f"tree {tree.name} [{tree.status}{handled}] {tree.id}")

        def walk(parent, prefix):
            kids = children.get(parent, [])
            for i, t in enumerate(kids):
                last = i == len(kids) - 1
                dep_text = ", ".join(names[u] + ("" if req else "?") for u, req in deps.get(t.id, []))
                extra = f"  ← {dep_text}" if dep_text else ""
                err = f"  ({t.error_type}: {t.error})" if t.error else ""
                self.stdout.write(
                    f"{prefix}{'└─ ' if last else '├─ '}{MARK.get(t.status, '?')} {t.name} "
                    f"[{t.status}] {t.executor} p{t.priority}{extra}{err}"
                )
                walk(t.id, prefix + ("   " if last else "│  "))

        walk(None, "")

    def do_cancel(self, tm, opts):
        obj = tm.cancel(opts["id"])
        self.stdout.write(f"{obj.id} {obj.status}")

    def do_stats(self, tm, opts):
        self.stdout.write(json.dumps(tm.stats(opts.get("tree")), indent=2))


def _handled(n: int) -> str:
    return f"{n} failure{'' if n == 1 else 's'} handled"
