"""Permissions beyond ``IsAuthenticated``. Row access is never a permission check here: every
queryset is scoped by ``selectors.tree_queryset`` / ``task_queryset``, so a foreign id is simply
not found."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission


class SessionForTokenWrites(BasePermission):
    """Creating or revoking API tokens needs a browser session: a leaked token cannot mint more."""

    message = "API tokens can only be created or revoked from a signed-in browser session (or the admin)"

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return isinstance(request.successful_authenticator, SessionAuthentication)
