"""Effective inputs of a task attempt (SEMANTICS "Results flow")."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from tasks_app.engine.states import Status

# ``(dependency name, dependency status, dependency result)``, in the task's declared order.
DepResult = tuple[str, Status | str, Any]

AGGREGATE_KEY = "results"

# A task completed by the user's word (docs/semantics.md "Mark success and skip") has the result
# ``{"marked": "success" | "skipped", "by": <username>}``; it contributes nothing to inputs.
MARKS = frozenset({"success", "skipped"})


def marker(result: Any) -> str | None:
    """``"success"`` / ``"skipped"`` for a result written by mark success / skip, else ``None``."""
    if isinstance(result, Mapping) and set(result) == {"marked", "by"} and result.get("marked") in MARKS:
        return str(result["marked"])
    return None


def mark_result(mark: str, by: str) -> dict[str, str]:
    """The result a marked task is given."""
    assert mark in MARKS
    return {"marked": mark, "by": by}


def unwrap_result(result: Any) -> Any:
    """Return ``result["result"]`` for a dict with a ``"result"`` key (apflow), else ``result``."""
    if isinstance(result, Mapping) and "result" in result:
        return result["result"]
    return result


def _completed(deps: Sequence[DepResult]) -> list[tuple[str, Any]]:
    return [
        (name, unwrap_result(result))
        for name, status, result in deps
        if Status(status) is Status.COMPLETED and marker(result) is None
    ]


def aggregate_results(deps: Sequence[DepResult]) -> dict[str, Any]:
    """Return ``{dependency name: unwrapped result}`` for every completed dependency."""
    return {name: copy.deepcopy(value) for name, value in _completed(deps)}


def effective_inputs(
    own: Mapping[str, Any], deps: Sequence[DepResult], *, aggregate: bool = False
) -> dict[str, Any]:
    """Return the inputs an attempt receives; ``own`` (the task's ``inputs``) is never modified.

    Start from a deep copy of ``own``; then, for each *completed* dependency in declared order,
    unwrap ``{"result": x}`` to ``x``: a dict is shallow-merged in (later dependencies win over
    earlier ones and over the task's own keys, as in apflow), any other value -- ``None``
    included -- is stored under the dependency's name. Dependencies that did not complete
    (failed or cancelled optional ones) and dependencies completed by a mark (``marker``: mark
    success or skip) contribute nothing.

    With ``aggregate=True`` (the aggregator executor) the result is
    ``{**own, "results": {name: unwrapped result, ...}}`` instead: every completed
    dependency's result keyed by name, under one ``"results"`` key that replaces an own key of
    that name. Dependency values are deep-copied, so the returned dict shares nothing with the
    arguments.
    """
    inputs: dict[str, Any] = copy.deepcopy(dict(own))
    if aggregate:
        inputs[AGGREGATE_KEY] = aggregate_results(deps)
        return inputs
    for name, value in _completed(deps):
        if isinstance(value, Mapping):
            inputs.update(copy.deepcopy(dict(value)))
        else:
            inputs[name] = copy.deepcopy(value)
    return inputs
