"""Arbor's scheduling engine: pure, deterministic decisions over an immutable ``Graph``.

Import rule: this package imports only the standard library and ``tasks_app.exceptions``;
nothing here knows about Django, the ORM, queues or clocks (time is passed in). Services
build a ``Graph`` from a snapshot (``selectors.graph_snapshot``), ask the engine what should
happen, and apply the answer. Outside code imports from ``tasks_app.engine``, not from its
submodules.
"""

from tasks_app.engine.backoff import retry_delay
from tasks_app.engine.copying import COPY_MODES, CopyPlan, CopyRemap, copy_order, plan_copy, remap
from tasks_app.engine.graph import (
    ancestors,
    dependency_path,
    depth,
    descendants,
    downstream_closure,
    find_cycle,
    parent_chain,
    subtree,
    topological_order,
    tree_root,
    upstream_closure,
)
from tasks_app.engine.inputs import aggregate_results, effective_inputs, unwrap_result
from tasks_app.engine.propagation import (
    cancel_set,
    failure_fallout,
    rerun_set,
    retry_set,
    run_scope,
    tree_cancel_set,
)
from tasks_app.engine.readiness import (
    blocking_upstream,
    deps_satisfied,
    is_ready,
    newly_ready,
    order_key,
    ready_ids,
    waiting_reason,
)
from tasks_app.engine.resources import (
    DEFAULT_MODE,
    EXCLUSIVE,
    MODES,
    READ,
    WRITE,
    Lock,
    can_acquire,
    compatible,
    normalise,
    select_startable,
)
from tasks_app.engine.simulate import Simulation, simulate
from tasks_app.engine.snapshot import Dep, Graph, Node, coerce_dep
from tasks_app.engine.states import (
    OUTCOME_STATUS,
    RETRYABLE_OUTCOMES,
    TERMINAL,
    TRANSITIONS,
    UPSTREAM_FAILED,
    Outcome,
    Status,
    can_transition,
    check_transition,
)
from tasks_app.engine.status import progress, status_counts, tree_status
from tasks_app.engine.validation import (
    SpecTask,
    resolve_refs,
    validate_dependencies,
    validate_new_edge,
    validate_spec,
    validate_tree,
)

__all__ = [
    "COPY_MODES",
    "DEFAULT_MODE",
    "EXCLUSIVE",
    "MODES",
    "OUTCOME_STATUS",
    "READ",
    "RETRYABLE_OUTCOMES",
    "TERMINAL",
    "TRANSITIONS",
    "UPSTREAM_FAILED",
    "WRITE",
    "CopyPlan",
    "CopyRemap",
    "Dep",
    "Graph",
    "Lock",
    "Node",
    "Outcome",
    "Simulation",
    "SpecTask",
    "Status",
    "aggregate_results",
    "ancestors",
    "blocking_upstream",
    "can_acquire",
    "can_transition",
    "cancel_set",
    "check_transition",
    "coerce_dep",
    "compatible",
    "copy_order",
    "dependency_path",
    "depth",
    "deps_satisfied",
    "descendants",
    "downstream_closure",
    "effective_inputs",
    "failure_fallout",
    "find_cycle",
    "is_ready",
    "newly_ready",
    "normalise",
    "order_key",
    "parent_chain",
    "plan_copy",
    "progress",
    "ready_ids",
    "remap",
    "rerun_set",
    "resolve_refs",
    "retry_delay",
    "retry_set",
    "run_scope",
    "select_startable",
    "simulate",
    "status_counts",
    "subtree",
    "topological_order",
    "tree_cancel_set",
    "tree_root",
    "tree_status",
    "unwrap_result",
    "upstream_closure",
    "validate_dependencies",
    "validate_new_edge",
    "validate_spec",
    "validate_tree",
    "waiting_reason",
]
