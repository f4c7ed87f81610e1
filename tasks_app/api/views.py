"""REST API views. Each method: validate input -> one service or selector call -> render.

Every queryset comes from ``selectors.tree_queryset`` / ``task_queryset`` (staff see other users'
rows only with the model permissions: docs/security.md), and every id, in the URL or in a
body, is looked up through ``selectors.tree_get`` / ``task_get`` with the action it is for
(``view``, ``change``, ``delete``): a foreign id answers 404 exactly like a missing one, a row
that may be seen but not changed 403 naming the permission.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
)
from rest_framework import filters as drf_filters
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.views import APIView

from tasks_app import selectors
from tasks_app.api.throttling import ThrottleUnauthenticatedMixin
from tasks_app.exceptions import NotFound, TreeValidationError
from tasks_app.input_limits import LimitedJSONParser, Pagination
from tasks_app.models import ApiToken, Task, Tree
from tasks_app.perf import gc_paused
from tasks_app.services import control, editing, tokens, trees
from tasks_app.services import tasks as task_services
from tasks_app.services.copying import task_copy
from tasks_app.services.grants import executor_catalogue

from . import serializers
from .filters import NameSearchFilter, SearchFilter, TaskFilter, TreeFilter
from .idempotency import IDEMPOTENCY_PARAMETER, idempotent
from .permissions import SessionForTokenWrites

SOURCE = "api"
MSG_BODY_SHAPE = 'the body must be a task array or an object {"tasks": [...], "execute": bool}'
MSG_PATCH_SHAPE = "the body must be an object of fields to change"

ERRORS = {
    400: OpenApiResponse(
        serializers.ErrorSerializer, description="invalid input (the message names the task and field)"
    ),
    403: OpenApiResponse(
        serializers.ErrorSerializer, description="a permission is missing (the message names it)"
    ),
    404: OpenApiResponse(serializers.ErrorSerializer, description="not found (also for another user's id)"),
    409: OpenApiResponse(serializers.ErrorSerializer, description="not allowed in the current state"),
}
WRITE_ERRORS = {
    **ERRORS,
    413: OpenApiResponse(serializers.ErrorSerializer, description="request body larger than the limit"),
    422: OpenApiResponse(serializers.ErrorSerializer, description="Idempotency-Key reused with another body"),
}
TREE_CREATE_BODY = PolymorphicProxySerializer(
    component_name="TreeCreateBody",
    serializers=[serializers.TaskSpecSerializer(many=True), serializers.TreeCreateSerializer],
    resource_type_field_name=None,
    many=False,
)
COPY_RESPONSES = {
    201: OpenApiResponse(serializers.TreeDetailSerializer, description="save=true: the new tree"),
    200: OpenApiResponse(
        serializers.CopyArraySerializer, description="save=false: the task array, nothing written"
    ),
    **WRITE_ERRORS,
}


class StableOrderingFilter(drf_filters.OrderingFilter):
    """Ordering plus tie-breakers ending with the primary key, so offset pages never repeat or skip
    rows. The tie-breakers (the view's ``ordering_tiebreak``, default ``["pk"]``) take the direction
    of the last ordering field, so one index serves both directions (tasks: ``task_owner_created``
    is ``(owner, created_at, position, id)``, read backwards for the default newest-first order)."""

    def get_ordering(self, request, queryset, view):
        ordering = list(super().get_ordering(request, queryset, view) or [])
        named = {field.lstrip("-") for field in ordering}
        sign = "-" if ordering and ordering[-1].startswith("-") else ""
        tiebreak = getattr(view, "ordering_tiebreak", ["pk"])
        return [*ordering, *(sign + field for field in tiebreak if field not in named)]


FILTER_BACKENDS = [DjangoFilterBackend, SearchFilter, StableOrderingFilter]


class ApiViewMixin(ThrottleUnauthenticatedMixin):
    parser_classes = [LimitedJSONParser]
    pagination_class: type[BasePagination] | None = Pagination

    @property
    def user(self):
        return self.request.user


def _events_page(request, rows, tree: Tree, limit: int) -> dict:
    rows = selectors.events_wire(rows)
    next_url = None
    if len(rows) == limit:
        query = request.query_params.copy()
        query["after_seq"] = str(rows[-1]["seq"])
        next_url = request.build_absolute_uri(request.path) + "?" + urlencode(query)
    # the websocket's event form, exactly (selectors.event_wire)
    return {"results": rows, "next": next_url, "last_seq": tree.last_seq}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _copy(request, task: Task, row: Tree | Task | None = None):
    """Shared by trees/{id}/copy/ (``row``: the tree, whose permissions apply) and tasks/{id}/copy/."""
    body = serializers.CopySerializer(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    if data["save"]:
        # the copy belongs to the task's owner: copying another user's rows is changing them
        selectors.check_access(request.user, row or task, "change", request=request, source=SOURCE)
    custom_ids = data.get("custom_task_ids")
    for ref in custom_ids or ():
        if _is_uuid(ref):
            # copy sources are looked up like any id: another user's task is simply not found
            selectors.task_get(request.user, ref, request=request, source=SOURCE)
    result = task_copy(
        task=task,
        mode=data["mode"],
        children=data["children"],
        custom_task_ids=custom_ids,
        custom_include_children=data["custom_include_children"],
        reset_fields=data.get("reset_fields"),
        save=data["save"],
        actor=request.user,
        source=SOURCE,
    )
    if data["save"]:
        tree = selectors.tree_get(request.user, result.id)  # as committed (last_seq)
        return Response(serializers.render_tree(tree, detail=True), status=status.HTTP_201_CREATED)
    return Response({"tasks": result})


@extend_schema_view(
    list=extend_schema(summary="List trees", responses=serializers.TreeSerializer(many=True)),
    retrieve=extend_schema(
        summary="A tree with all its tasks and counts by status",
        responses={200: serializers.TreeDetailSerializer, 404: ERRORS[404]},
    ),
    destroy=extend_schema(
        summary="Delete a tree (refused while it runs)",
        responses={200: serializers.DeleteResultSerializer, **ERRORS},
    ),
)
class TreeViewSet(ApiViewMixin, viewsets.GenericViewSet):
    queryset = Tree.objects.none()
    serializer_class = serializers.TreeSerializer
    filterset_class = TreeFilter
    filter_backends = FILTER_BACKENDS
    search_fields = ["name"]
    ordering_fields = ["created_at", "updated_at", "name", "status"]
    ordering = ["-created_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Tree.objects.none()
        return selectors.tree_queryset(self.user).select_related("owner")

    def get_tree(self, action: str = "view") -> Tree:
        return selectors.tree_get(self.user, self.kwargs["pk"], action, request=self.request, source=SOURCE)

    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(serializers.render_trees(page))

    @extend_schema(
        summary="Create a tree from a task array",
        request=TREE_CREATE_BODY,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: serializers.TreeDetailSerializer, **WRITE_ERRORS},
    )
    @idempotent
    @gc_paused()  # the body, the drafts and the response of up to 10,000 tasks: see tasks_app.perf
    def create(self, request):
        data = request.data
        execute = False
        if isinstance(data, dict) and "tasks" in data:
            body = serializers.TreeCreateSerializer(data=data)
            body.is_valid(raise_exception=True)
            tasks, execute = body.validated_data["tasks"], body.validated_data["execute"]
        elif isinstance(data, list):
            tasks = data
        else:
            raise TreeValidationError([MSG_BODY_SHAPE])
        # with execute, created and started in one transaction (the run changed the rows: read them);
        # without, the tasks are rendered from the rows written, during the commit (tree_create)
        tree = trees.tree_create(
            owner=request.user,
            tasks=tasks,
            actor=request.user,
            source=SOURCE,
            execute=execute,
            answer=None if execute else serializers.render_written_tasks,
        )
        stored = selectors.tree_get(request.user, tree.id)  # as committed (status, last_seq)
        rendered = None if execute else tree.answer
        return Response(
            serializers.render_tree(stored, detail=True, rendered_tasks=rendered),
            status=status.HTTP_201_CREATED,
        )

    def retrieve(self, request, pk=None):
        return Response(serializers.render_tree(self.get_tree(), detail=True))

    def destroy(self, request, pk=None):
        return Response(
            task_services.tree_delete(tree=self.get_tree("delete"), actor=request.user, source=SOURCE)
        )

    @extend_schema(
        summary="Run the whole tree",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TreeSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def execute(self, request, pk=None):
        tree = control.tree_execute(tree=self.get_tree("change"), actor=request.user, source=SOURCE)
        return Response(serializers.render_tree(tree))

    @extend_schema(
        summary="Cancel every unfinished task of the tree",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TreeSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, pk=None):
        tree = control.tree_cancel(tree=self.get_tree("change"), actor=request.user, source=SOURCE)
        return Response(serializers.render_tree(tree))

    @extend_schema(
        summary="Retry every failed or cancelled task (in place)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TreeSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def retry(self, request, pk=None):
        tree = control.tree_retry(tree=self.get_tree("change"), actor=request.user, source=SOURCE)
        return Response(serializers.render_tree(tree))

    @extend_schema(
        summary="Edit a tree that never ran in place: the whole task array, like creation",
        request=TREE_CREATE_BODY,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TreeDetailSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    @gc_paused()
    def edit(self, request, pk=None):
        data = request.data
        tasks = data.get("tasks") if isinstance(data, dict) and "tasks" in data else data
        if not isinstance(tasks, list):
            raise TreeValidationError([MSG_BODY_SHAPE])
        tree = editing.tree_edit(tree=self.get_tree("change"), tasks=tasks, actor=request.user, source=SOURCE)
        return Response(serializers.render_tree(selectors.tree_get(request.user, tree.id), detail=True))

    @extend_schema(
        summary="Copy the tree (minimal / full / custom)",
        request=serializers.CopySerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses=COPY_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def copy(self, request, pk=None):
        tree = self.get_tree()
        return _copy(request, selectors.task_get(request.user, tree.id), tree)

    @extend_schema(
        summary="The tree's events in sequence order (catch up with ?after_seq=)",
        parameters=[serializers.AfterSeqQuerySerializer],
        responses={200: serializers.EventPageSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        query = serializers.AfterSeqQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tree = self.get_tree()
        limit = query.validated_data["limit"]
        rows = selectors.tree_events(tree, after_seq=query.validated_data["after_seq"], limit=limit)
        return Response(_events_page(request, rows, tree, limit))

    @extend_schema(
        summary="Every execution attempt in the tree (?run=<number>: those of one run)",
        parameters=[OpenApiParameter("run", int, description="only the attempts of this run number")],
        responses=serializers.AttemptSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=Pagination)
    def attempts(self, request, pk=None):
        tree = self.get_tree()
        run = request.query_params.get("run")
        if run is not None:
            run = selectors.run_get(tree, run).number  # an unknown run answers 404
        page = self.paginate_queryset(selectors.tree_attempts(tree, run=run))
        return self.get_paginated_response(serializers.AttemptSerializer(page, many=True).data)

    @extend_schema(summary="The tree's runs, newest first", responses=serializers.RunSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=Pagination)
    def runs(self, request, pk=None):
        page = self.paginate_queryset(selectors.tree_runs(self.get_tree()))
        return self.get_paginated_response(serializers.RunSerializer(page, many=True).data)

    @extend_schema(
        summary="One run of the tree, by number",
        responses={200: serializers.RunSerializer, **ERRORS},
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"runs/(?P<number>[0-9]+)",
        filter_backends=[],
        pagination_class=None,
    )
    def run_detail(self, request, pk=None, number=None):
        return Response(serializers.RunSerializer(selectors.run_get(self.get_tree(), number)).data)

    @extend_schema(
        summary="The attempts one run made, in start order (with task names)",
        parameters=[OpenApiParameter("number", int, OpenApiParameter.PATH)],
        responses=serializers.RunAttemptSerializer(many=True),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"runs/(?P<number>[0-9]+)/attempts",
        filter_backends=[],
        pagination_class=Pagination,
    )
    def run_attempts(self, request, pk=None, number=None):
        run = selectors.run_get(self.get_tree(), number)
        page = self.paginate_queryset(selectors.run_attempts(run))
        return self.get_paginated_response(serializers.RunAttemptSerializer(page, many=True).data)


# the query parameters that can narrow the task list (any other leaves every visible task in it)
TASK_LIST_NARROWING = (*TaskFilter.base_filters, drf_filters.SearchFilter.search_param)


@extend_schema_view(
    list=extend_schema(
        summary="List tasks (filter, search, order, paginate)",
        responses=serializers.TaskSerializer(many=True),
    ),
    retrieve=extend_schema(summary="A task", responses={200: serializers.TaskSerializer, 404: ERRORS[404]}),
    destroy=extend_schema(
        summary="Delete a task and its subtree, where safe",
        responses={200: serializers.DeleteResultSerializer, **ERRORS},
    ),
)
class TaskViewSet(ApiViewMixin, viewsets.GenericViewSet):
    queryset = Task.objects.none()
    serializer_class = serializers.TaskSerializer
    filterset_class = TaskFilter
    search_fields = ["name"]
    filter_backends = [DjangoFilterBackend, NameSearchFilter, StableOrderingFilter]
    ordering_fields = ["created_at", "priority", "name", "status"]
    ordering = ["-created_at"]
    ordering_tiebreak = ["position", "pk"]  # a tree's tasks share created_at: then creation order
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Task.objects.none()
        return selectors.task_queryset(self.user)

    def get_task(self, key: str = "pk", action: str = "view") -> Task:
        return selectors.task_get(self.user, self.kwargs[key], action, request=self.request, source=SOURCE)

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())  # bad filters: 400 here
        narrowing = {name for name in TASK_LIST_NARROWING if request.query_params.get(name, "") != ""}
        paginator = self.paginator
        assert isinstance(paginator, Pagination)  # the view's pagination_class
        # the count without a COUNT(*) over every matching task row (docs/performance.md "Scale"):
        # unfiltered, the sum of the reader's trees' task counts; by status alone, that sum minus
        # the other statuses when the status is most tasks
        if not narrowing:
            paginator.known_count = selectors.task_list_total(self.user)
        elif narrowing == {"status"}:
            paginator.known_count = selectors.task_status_total(self.user, request.query_params["status"])
        # the page is chosen on ids alone (an index-only walk of the list order), then its rows read
        ids = self.paginate_queryset(queryset.values_list("pk", flat=True))
        return self.get_paginated_response(serializers.render_tasks(serializers.task_rows_by_id(ids)))

    def retrieve(self, request, pk=None):
        return Response(serializers.render_task(self.get_task()))

    @extend_schema(
        summary="Edit a pending task (read-only fields are refused, naming them)",
        request=serializers.TaskUpdateSerializer,
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    def partial_update(self, request, pk=None):
        task = self.get_task(action="change")
        if not isinstance(request.data, dict):
            raise TreeValidationError([MSG_PATCH_SHAPE])
        task = task_services.task_update(
            task=task, data=dict(request.data), actor=request.user, source=SOURCE
        )
        return Response(serializers.render_task(task))

    def destroy(self, request, pk=None):
        return Response(
            task_services.task_delete(task=self.get_task(action="delete"), actor=request.user, source=SOURCE)
        )

    @extend_schema(
        summary="Run this task with its unfinished upstream dependencies (the root: the whole tree)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TreeSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def execute(self, request, pk=None):
        task = self.get_task(action="change")
        tree = control.tree_execute(
            tree=task.tree, task=None if task.is_root else task, actor=request.user, source=SOURCE
        )
        return Response(serializers.render_tree(tree))

    @extend_schema(
        summary="Cancel a pending or running task (dependents cascade)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def cancel(self, request, pk=None):
        task = control.task_cancel(task=self.get_task(action="change"), actor=request.user, source=SOURCE)
        return Response(serializers.render_task(task))

    @extend_schema(
        summary="Retry a failed or cancelled task in place (with what it blocked)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def retry(self, request, pk=None):
        task = self.get_task(action="change")
        control.task_retry(task=task, actor=request.user, source=SOURCE)
        return Response(serializers.render_task(self.get_task()))

    @extend_schema(
        summary="Re-run from here: this task and everything downstream go back to pending",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def rerun(self, request, pk=None):
        task = self.get_task(action="change")
        control.task_rerun(task=task, actor=request.user, source=SOURCE)
        return Response(serializers.render_task(self.get_task()))

    @extend_schema(
        summary="Mark success: a failed, cancelled or pending task becomes completed by your word; "
        "the tasks it alone blocked run again (409 if it is running or completed)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="mark-success")
    @idempotent
    def mark_success(self, request, pk=None):
        task = self.get_task(action="change")
        control.task_mark(task=task, mark="success", actor=request.user, source=SOURCE)
        return Response(serializers.render_task(self.get_task()))

    @extend_schema(
        summary="Skip: a failed, cancelled or pending task becomes completed, marked skipped; its "
        "dependents run without its result (409 if it is running or completed)",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def skip(self, request, pk=None):
        task = self.get_task(action="change")
        control.task_mark(task=task, mark="skipped", actor=request.user, source=SOURCE)
        return Response(serializers.render_task(self.get_task()))

    @extend_schema(
        summary="Copy from this task (minimal / full / custom)",
        request=serializers.CopySerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses=COPY_RESPONSES,
    )
    @action(detail=True, methods=["post"])
    @idempotent
    def copy(self, request, pk=None):
        return _copy(request, self.get_task())

    @extend_schema(
        summary="Which tasks an action would touch",
        parameters=[serializers.PreviewQuerySerializer],
        responses={200: serializers.PreviewSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        query = serializers.PreviewQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(control.preview(task=self.get_task(), action=query.validated_data["action"]))

    @extend_schema(
        summary="The task's execution attempts", responses=serializers.AttemptSerializer(many=True)
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=Pagination)
    def attempts(self, request, pk=None):
        page = self.paginate_queryset(selectors.task_attempts(self.get_task()))
        return self.get_paginated_response(serializers.AttemptSerializer(page, many=True).data)

    @extend_schema(
        summary="The task's events (catch up with ?after_seq=)",
        parameters=[serializers.AfterSeqQuerySerializer],
        responses={200: serializers.EventPageSerializer, **ERRORS},
    )
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        query = serializers.AfterSeqQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        task = self.get_task()
        limit = query.validated_data["limit"]
        rows = selectors.task_events(task, after_seq=query.validated_data["after_seq"], limit=limit)
        return Response(_events_page(request, rows, task.tree, limit))

    @extend_schema(
        summary="The task's original and its copies", responses={200: serializers.LineageSerializer, **ERRORS}
    )
    @action(detail=True, methods=["get"])
    def lineage(self, request, pk=None):
        return Response(
            serializers.LineageSerializer(selectors.task_lineage(request.user, self.get_task())).data
        )

    @extend_schema(
        summary="Add a dependency (this task depends on `upstream`)",
        request=serializers.DependencyAddSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: serializers.TaskSerializer, **WRITE_ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="dependencies")
    @idempotent
    def dependencies(self, request, pk=None):
        task = self.get_task(action="change")
        body = serializers.DependencyAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upstream = selectors.task_get(request.user, body.validated_data["upstream"])
        task_services.dependency_add(
            downstream=task,
            upstream=upstream,
            required=body.validated_data["required"],
            actor=request.user,
            source=SOURCE,
        )
        return Response(serializers.render_task(self.get_task()), status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Remove a dependency",
        request=None,
        parameters=[OpenApiParameter("upstream_id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
        responses={200: serializers.TaskSerializer, **ERRORS},
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"dependencies/(?P<upstream_id>[^/]+)",
        url_name="dependency-detail",
    )
    def remove_dependency(self, request, pk=None, upstream_id=None):
        task = self.get_task(action="change")
        upstream = self.get_task("upstream_id")
        task_services.dependency_remove(downstream=task, upstream=upstream, actor=request.user, source=SOURCE)
        return Response(serializers.render_task(self.get_task()))


class ExecutorListView(ApiViewMixin, APIView):
    pagination_class = None

    @extend_schema(
        summary="The executors you may use (the others need a permission: docs/security.md)",
        parameters=[serializers.ExecutorQuerySerializer],
        responses=serializers.ExecutorSerializer(many=True),
    )
    def get(self, request):
        query = serializers.ExecutorQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(executor_catalogue(request.user, include_denied=query.validated_data["all"]))


class StatsView(ApiViewMixin, APIView):
    @extend_schema(
        summary="Execution statistics (all your tasks, or one tree)",
        parameters=[serializers.StatsQuerySerializer],
        responses={200: serializers.StatsSerializer, **ERRORS},
    )
    def get(self, request):
        query = serializers.StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tree_id = query.validated_data.get("tree")
        if tree_id is not None:
            tree_id = selectors.tree_get(request.user, tree_id, request=request, source=SOURCE).id
        stats = selectors.execution_stats(request.user, tree_id=tree_id)
        stats["attempts"] = selectors.attempt_stats(request.user, tree_id=tree_id)
        return Response(stats)


class ThroughputView(ApiViewMixin, APIView):
    @extend_schema(
        summary="Completed tasks per minute, hour or day (an aggregate over every completion)",
        parameters=[serializers.ThroughputQuerySerializer],
        responses={200: serializers.ThroughputSerializer, **ERRORS},
    )
    def get(self, request):
        query = serializers.ThroughputQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        tree_id = data.get("tree")
        if tree_id is not None:
            tree_id = selectors.tree_get(request.user, tree_id).id
        return Response(
            selectors.throughput(request.user, bucket=data["bucket"], count=data["count"], tree_id=tree_id)
        )


class ValidateView(ApiViewMixin, APIView):
    @extend_schema(
        summary="Validate a task array without creating anything",
        request=TREE_CREATE_BODY,
        responses={200: serializers.ValidateResultSerializer, 400: ERRORS[400], 413: WRITE_ERRORS[413]},
    )
    @gc_paused()
    def post(self, request):
        data = request.data
        tasks = data.get("tasks") if isinstance(data, dict) and "tasks" in data else data
        drafts = trees.parse_tree(tasks)
        return Response({"valid": True, "order": [d.key for d in drafts], "names": [d.name for d in drafts]})


@extend_schema_view(
    list=extend_schema(summary="Your API tokens", responses=serializers.TokenSerializer(many=True)),
    create=extend_schema(
        summary="Create a token (browser session only); the token is shown once",
        request=serializers.TokenCreateSerializer,
        responses={201: serializers.NewTokenSerializer, **ERRORS},
    ),
    destroy=extend_schema(
        summary="Revoke a token (browser session only)",
        parameters=[OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={204: None, **ERRORS},
    ),
)
class TokenViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = serializers.TokenSerializer
    queryset = ApiToken.objects.none()
    filter_backends: list = []
    permission_classes = [*viewsets.GenericViewSet.permission_classes, SessionForTokenWrites]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        # tokens are personal: staff see only their own here (the admin lists everyone's)
        return ApiToken.objects.filter(user=self.user, revoked=False)

    def create(self, request):
        body = serializers.TokenCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        token, raw = tokens.token_issue(
            user=request.user,
            name=data["name"],
            expires_at=data.get("expires_at"),
            expires_in_days=data.get("expires_in_days"),
            actor=request.user,
            request=request,
            source="api",
        )
        token.token = raw
        return Response(serializers.NewTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        found = self.get_queryset().filter(pk=pk if str(pk).isdigit() else -1)
        if not tokens.token_revoke(found, actor=request.user, request=request, source="api"):
            raise NotFound(f"token '{pk}' not found")
        return Response(status=status.HTTP_204_NO_CONTENT)
