"""Server-rendered pages: the shells of the dashboard, the tree editor and the live run view.

Pages only check access and hand the browser its starting configuration (``json_script``);
every read and write afterwards goes through the REST API (``/api/v1/``) and the websocket.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from tasks_app import selectors
from tasks_app.exceptions import NotFound
from tasks_app.models import Tree
from tasks_app.services import notifications

SOURCE = "web"
API_BASE = "/api/v1/"
WS_BASE = "/ws/"
COPY_MODES = {"full", "minimal"}
COUNT_CARDS = [
    ("total", "All tasks"),
    ("pending", "Pending"),
    ("in_progress", "Running"),
    ("completed", "Completed"),
    ("failed", "Failed"),
    ("cancelled", "Cancelled"),
]


def _config(request: HttpRequest, page: str, **extra) -> dict:
    return {
        "page": page,
        "api": API_BASE,
        "ws": WS_BASE,
        "user": request.user.get_username(),
        # whether the pages show other users' trees (staff with tasks_app.view_tree, superusers)
        "staff": selectors.sees_all(request.user, Tree),
        **extra,
    }


def _tree_or_404(request: HttpRequest, tree_id):
    try:
        return selectors.tree_get(request.user, tree_id, request=request, source=SOURCE)
    except NotFound as exc:
        raise Http404(str(exc)) from None


@require_GET
@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    context = {"nav": "dashboard", "arbor_config": _config(request, "dashboard"), "count_cards": COUNT_CARDS}
    return render(request, "tasks_app/dashboard.html", context)


@require_GET
@login_required
def tree_new(request: HttpRequest) -> HttpResponse:
    config = _config(request, "editor", mode="new")
    return render(request, "tasks_app/editor.html", {"nav": "new", "arbor_config": config, "source": None})


@require_GET
@login_required
def tree_edit(request: HttpRequest, tree_id) -> HttpResponse:
    """The editor, loaded with an unsaved copy of a tree (or of one task's part of it): saving
    creates a new tree and never changes the original. ``?mode=edit`` on a tree that never ran
    loads the tree itself: saving changes it in place."""
    tree = _tree_or_404(request, tree_id)
    task_id = request.GET.get("task") or None
    if request.GET.get("mode") == "edit" and task_id is None and tree.run_count == 0 and not tree.archived:
        # a tree that never ran is edited in place (POST /api/v1/trees/{id}/edit/)
        config = _config(request, "editor", mode="edit", tree=str(tree.id), tree_name=tree.name)
        return render(
            request,
            "tasks_app/editor.html",
            {"nav": "new", "arbor_config": config, "source": tree, "editing": True},
        )
    mode = (
        request.GET.get("mode")
        if request.GET.get("mode") in COPY_MODES
        else ("minimal" if task_id else "full")
    )
    if task_id is not None:
        try:
            task = selectors.task_get(request.user, task_id, request=request, source=SOURCE)
        except NotFound as exc:
            raise Http404(str(exc)) from None
        if task.tree_id != tree.id:
            raise Http404("task not in this tree")
        task_id = str(task.id)
    config = _config(
        request, "editor", mode="copy", tree=str(tree.id), tree_name=tree.name, task=task_id, copy_mode=mode
    )
    return render(request, "tasks_app/editor.html", {"nav": "new", "arbor_config": config, "source": tree})


@require_GET
@login_required
def tree_run(request: HttpRequest, tree_id) -> HttpResponse:
    tree = _tree_or_404(request, tree_id)
    config = _config(
        request,
        "run",
        tree=str(tree.id),
        tree_name=tree.name,
        task_count=tree.task_count,
        mail=notifications.mail_configured(),
    )
    return render(request, "tasks_app/run.html", {"nav": "", "arbor_config": config, "tree": tree})


@require_GET
@login_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    """Your schedules: next fire, last outcome, pause/resume, and every fire with its run link."""
    config = _config(
        request,
        "schedules",
        focus=request.GET.get("schedule") or None,
        mail=notifications.mail_configured(),
    )
    return render(request, "tasks_app/schedules.html", {"nav": "schedules", "arbor_config": config})


@require_GET
@login_required
def schedule_new(request: HttpRequest, tree_id) -> HttpResponse:
    """Schedule a tree (from its run view): the rule in words and its next fire times as you type."""
    tree = _tree_or_404(request, tree_id)
    config = _config(request, "schedule_new", tree=str(tree.id), tree_name=tree.name)
    return render(
        request, "tasks_app/schedule_new.html", {"nav": "schedules", "arbor_config": config, "tree": tree}
    )
