"""Arbor's Django admin: the operators' view of what happened, and the way to put things right.

Import rule (STYLE §2.1): the admin imports models, selectors and services; it never writes a
Task, Tree, Attempt or Event row itself. Task and tree actions call the same services as the API
with ``actor=request.user, source="admin"``, so every change leaves Event rows naming the
operator. Attempts and events are read-only; archived trees are read-only; django-q2's pages are
for superusers only.

Modules: ``tasks`` (TaskAdmin + attempts inline), ``trees``, ``schedules`` (Schedule + fires),
``audit`` (Attempt, Event),
``access`` (resource pools, API tokens, django-q2 lockdown), ``actions`` (confirmation pages),
``filters`` and ``display`` (helpers).
"""

from django.contrib import admin

from . import access, audit, hooks, schedules, tasks, trees  # noqa: F401  (registers the model admins)

admin.site.site_header = "Arbor administration"
admin.site.site_title = "Arbor admin"
admin.site.index_title = "Trees, tasks and their audit trail"

access.restrict_django_q(admin.site)
