"""Run records (docs/semantics.md "Run records"): the service that starts a run opens one, in its
own transaction; ``scheduling.refresh_tree_status`` closes it when it sets the tree's terminal
status; ``runs._new_attempts`` tags each attempt with its tree's open run."""

from __future__ import annotations

from django.db.models import Count, Max

from tasks_app.engine.states import Status
from tasks_app.models import Attempt, Run, RunTrigger

TRIGGERS = frozenset(RunTrigger.values)


def open_run(tree_id) -> Run | None:
    """The tree's run in progress (the latest unfinished one), if any."""
    return Run.objects.filter(tree_id=tree_id, finished_at__isnull=True).order_by("-number").first()


def start(*, tree_id, trigger: str, actor=None, source: str = "", target=None, scope: int = 0, now) -> Run:
    """Open run n+1 of the tree (the caller holds the tree's row lock). A run still open is
    closed first as it stands (cannot happen through the services, which refuse to execute a
    running tree and let a retry join the running run)."""
    return start_many(
        [{"tree_id": tree_id, "trigger": trigger, "actor": actor, "target": target, "scope": scope}],
        source=source,
        now=now,
    )[tree_id]


def start_many(items, *, source: str = "", now) -> dict:
    """``start`` for many trees in three statements (the caller holds every tree's row lock):
    ``items`` are dicts of ``tree_id``, ``trigger``, ``actor``, ``target``, ``scope``.
    Returns ``{tree_id: Run}``."""
    items = list(items)
    for item in items:
        if item["trigger"] not in TRIGGERS:
            raise ValueError(f"unknown run trigger '{item['trigger']}'")
    ids = [item["tree_id"] for item in items]
    Run.objects.filter(tree_id__in=ids, finished_at__isnull=True).update(finished_at=now)
    last = {
        str(tree_id): n
        for tree_id, n in Run.objects.filter(tree_id__in=ids)
        .values("tree_id")
        .annotate(n=Max("number"))
        .values_list("tree_id", "n")
    }
    runs = []
    for item in items:
        actor = item.get("actor")
        user_id = getattr(actor, "pk", None)
        target = item.get("target")
        runs.append(
            Run(
                tree_id=item["tree_id"],
                number=(last.get(str(item["tree_id"])) or 0) + 1,
                trigger=item["trigger"],
                source=(source or "")[:20],
                started_by_id=user_id
                if user_id is not None and getattr(actor, "is_authenticated", True)
                else None,
                target_task_id=getattr(target, "id", target),
                started_at=now,
                status=Status.IN_PROGRESS.value,
                scope=item.get("scope", 0),
            )
        )
    Run.objects.bulk_create(runs)
    return {run.tree_id: run for run in runs}


def open_runs(tree_ids) -> dict:
    """``{tree_id: run_id}`` of the open run of each tree (for tagging new attempts)."""
    return dict(open_runs_query(tree_ids))  # the latest open run wins


def open_runs_query(tree_ids):
    """``(tree_id, run_id)`` of the open runs of ``tree_ids``, the latest last."""
    ids = {t for t in tree_ids if t}
    return (
        Run.objects.filter(tree_id__in=ids, finished_at__isnull=True)
        .order_by("number")
        .values_list("tree_id", "id")
    )


def finish(tree_id, *, status: str, handled_failures: int, task_counts: dict, now) -> None:
    """Close the tree's open run with its outcome (called where the tree's terminal status is set)."""
    run = open_run(tree_id)
    if run is None:
        return
    attempts = dict(
        Attempt.objects.filter(run_id=run.id)
        .values_list("outcome")
        .annotate(n=Count("id"))
        .values_list("outcome", "n")
    )
    Run.objects.filter(id=run.id).update(
        status=status,
        finished_at=now,
        handled_failures=handled_failures,
        counts={"tasks": task_counts, "attempts": sum(attempts.values()), "attempt_outcomes": attempts},
    )
