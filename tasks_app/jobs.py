"""django-q2 entry points: ids in, one service call, nothing else."""

from __future__ import annotations

import json
import os

from tasks_app import conf


def drain_job() -> int:
    """Claim and run ready tasks until the queue is empty or the drain budget is spent."""
    from tasks_app.worker.loop import drain

    stats_file = conf.env("ARBOR_BENCH_STATS")
    if not stats_file:
        return drain(hard_kill=True)
    # benchmark mode: count this worker's database round trips
    from django.db import connection

    calls = [0]

    def counter(execute, sql, params, many, context):
        calls[0] += 1
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counter):
        ran = drain(hard_kill=True)
    with open(stats_file, "a") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "ran": ran, "queries": calls[0]}) + "\n")
    return ran


def reap_job() -> int:
    from tasks_app.services.reaper import reap

    return reap()
