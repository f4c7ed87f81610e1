"""Arbor's persisted data.

Import rule: models know the engine's status values and nothing above them (no services,
selectors, api, ui, live or jobs). Every state change goes through ``tasks_app.services``.
"""

from .attempt import Attempt
from .audit import AuditEvent, AuditKind
from .event import Event
from .idempotency import IdempotencyRecord
from .notify import (
    Delivery,
    DeliveryStatus,
    NotificationEvent,
    NotificationKind,
    NotificationRule,
    Trigger,
    TriggerMode,
)
from .ops import ProcessHeartbeat
from .resource import ResourceLock, ResourcePool
from .run import Run, RunTrigger
from .schedule import CalendarFeed, CatchUp, FireStatus, Overlap, Schedule, ScheduleFire
from .task import Dependency, Task, TaskStatus
from .token import ApiToken
from .tree import Tree

__all__ = [
    "CalendarFeed",
    "ApiToken",
    "Attempt",
    "AuditEvent",
    "AuditKind",
    "CatchUp",
    "Delivery",
    "DeliveryStatus",
    "Dependency",
    "Event",
    "FireStatus",
    "IdempotencyRecord",
    "Overlap",
    "NotificationEvent",
    "NotificationKind",
    "NotificationRule",
    "ProcessHeartbeat",
    "ResourceLock",
    "ResourcePool",
    "Schedule",
    "ScheduleFire",
    "Run",
    "RunTrigger",
    "Task",
    "TaskStatus",
    "Tree",
    "Trigger",
    "TriggerMode",
]
