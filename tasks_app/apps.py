from django.apps import AppConfig


class TasksAppConfig(AppConfig):
    name = "tasks_app"
    verbose_name = "Arbor"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers system checks; no business signals)
        from .accounts import connect_audit

        connect_audit()  # the audit trail of logins, failed logins, lockouts and logouts
