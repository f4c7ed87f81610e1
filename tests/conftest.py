import os
import time

import pytest

# Sync Playwright leaves an asyncio loop running in the main thread; the ORM needs this in tests.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": "/usr/bin/chromium", "args": CHROMIUM_ARGS}


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("mallory", password="pw-mallory-123")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(
        "root", password="pw-root-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def executor_grants(user):
    """Grant ``user`` the dangerous executors (shell_command, http_request, python_function):
    docs/security.md. Returns the user."""
    from django.contrib.auth.models import Permission

    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="tasks_app",
            codename__in=["use_shell_command", "use_http_request", "use_python_function"],
        )
    )
    for cache in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cache, None)
    return user


@pytest.fixture
def tm(user):
    from tasks_app.taskmanager import TaskManager

    return TaskManager(user)


@pytest.fixture
def run_tree(tm):
    """Create, execute and drain a tree in this process; returns {name: Task} and the tree."""
    from tasks_app.models import Attempt, Task
    from tasks_app.worker.loop import run_until_idle

    def _run(tasks, *, execute=True):
        tree = tm.create_tree(tasks)
        if execute:
            tm.execute(tree.id)
            run_until_idle(hard_kill=False, timeout=30)
            # Background workers (the browser tests' ``workers``) may still be running a task of
            # this tree when this process finds nothing left to claim: drain again until none is.
            deadline = time.monotonic() + 30
            while Attempt.objects.filter(tree=tree, outcome="running").exists():
                if time.monotonic() > deadline:
                    raise AssertionError(f"tree {tree.pk}: an attempt still running after 30 s")
                if not run_until_idle(hard_kill=False, timeout=5):
                    time.sleep(0.05)
        tree.refresh_from_db()
        return tree, {t.name: t for t in Task.objects.filter(tree=tree)}

    return _run


@pytest.fixture(autouse=True)
def _stop_the_wait_listener():
    """A ``wait: true`` on PostgreSQL starts a LISTEN thread holding a connection to the test
    database: stop it after the test, or the database could not be dropped."""
    yield
    from tasks_app.live import waiters

    if waiters._listener is not None:
        waiters.shutdown()
