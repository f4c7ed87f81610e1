"""System checks run at start-up (``manage.py check``, runserver, daphne via the app registry)."""

from typing import cast

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def executors_registered(app_configs, **kwargs):
    from tasks_app.executors import registry

    return [
        Error(message, id="arbor.E001", hint="Fix ARBOR_EXECUTORS") for message in registry.check_registry()
    ]


@register()
def worker_transport(app_configs, **kwargs):
    problems: list[CheckMessage] = []
    if settings.Q_CLUSTER.get("orm") != "default":
        problems.append(Error("Q_CLUSTER must use the ORM broker on the default database", id="arbor.E002"))
    if settings.ARBOR_DISPATCH not in {"q2", "inline", "none"}:
        problems.append(Error("ARBOR_DISPATCH must be one of q2, inline, none", id="arbor.E003"))
    if cast(float, settings.Q_CLUSTER.get("timeout", 0)) < settings.ARBOR_MAX_TIMEOUT:
        problems.append(Error("Q_CLUSTER timeout is shorter than ARBOR_MAX_TIMEOUT", id="arbor.E004"))
    if settings.ARBOR_HEARTBEAT_SECONDS * 2 > settings.ARBOR_LEASE_SECONDS:
        problems.append(Warning("heartbeat interval should be at most half the lease", id="arbor.W001"))
    return problems
