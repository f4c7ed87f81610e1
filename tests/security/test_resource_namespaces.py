"""Item 5: resource locks were one global namespace — one user's long task holding
``db:team-a-prod`` kept every other user's task naming ``db:team-a-prod`` waiting.

Now a lock is taken in its owner's namespace unless ``type:identifier`` is a shared resource that
staff declared (``ResourcePool``) and granted (users, groups, everyone); naming a shared resource
without a grant is refused (403 at create/PATCH/copy; the task fails at claim time if the grant
was revoked since). Users only ever see the key they named (docs/security.md).
"""

import pytest
from django.contrib.auth.models import Group
from hypothesis import given
from hypothesis import strategies as st

from tasks_app.models import Attempt, Event, ResourceLock, ResourcePool, Task
from tasks_app.services import control, runs, trees
from tasks_app.worker.loop import run_until_idle

from .conftest import t

pytestmark = pytest.mark.django_db

PROD = {"type": "db", "identifier": "team-a-prod", "mode": "exclusive"}
READ_GPU = {"type": "gpu", "identifier": "0", "mode": "read"}
HELD_PROD = "waiting for resource 'db:team-a-prod' (held exclusive)"


def started(owner, name, resources, executor="noop"):
    """A one-task tree of ``owner``'s, executed: its task is ready to be claimed."""
    tree = trees.tree_create(owner=owner, tasks=[t(name, executor, resources=resources)])
    control.tree_execute(tree=tree, actor=owner)
    return Task.objects.get(tree=tree)


def claim():
    claims = runs.claim_batch(worker="w1", limit=1)
    return claims[0] if claims else None


def claim_all() -> list:
    out = []
    while (c := claim()) is not None:
        out.append(c)
    return out


def declare(key, capacity=1, *, users=(), groups=(), everyone=False) -> ResourcePool:
    pool = ResourcePool.objects.create(key=key, capacity=capacity, everyone=everyone)
    pool.users.set(users)
    pool.groups.set(groups)
    return pool


# --- the attack: two users, one name ------------------------------------------------------------


def test_another_users_holder_does_not_keep_my_task_waiting(user, other_user):
    held = started(user, "a-long", [PROD])
    assert claim().task_id == held.id  # user A holds db:team-a-prod (attempt and lock row live)
    assert ResourceLock.objects.filter(task=held).exists()
    mine = started(other_user, "b-task", [PROD])
    got = claim()
    assert got is not None and got.task_id == mine.id, "user B's task waited for user A's lock"
    mine.refresh_from_db()
    assert mine.status == "in_progress" and mine.waiting_reason == ""


def test_the_same_users_tasks_still_exclude_each_other(user, other_user):
    first = started(user, "a1", [PROD])
    second = started(user, "a2", [PROD])
    theirs = started(other_user, "b1", [PROD])
    got = {c.task_id: c for c in claim_all()}
    assert set(got) == {first.id, theirs.id}
    second.refresh_from_db()
    assert second.status == "pending" and second.waiting_reason == HELD_PROD
    runs.finish([runs.Finish(attempt_id=got[first.id].attempt_id, task_id=first.id, outcome="completed")])
    assert claim().task_id == second.id


def test_two_users_do_not_wait_for_each_other_end_to_end(api, other_api, make_tree, user, other_user):
    """Through the API and the worker: both users' trees finish; neither task ever waited."""
    mine, _ = make_tree([t("root", resources=[PROD])])
    theirs, _ = make_tree([t("root", resources=[PROD])], client=other_api)
    held = started(user, "a-long", [PROD], executor="noop")
    assert claim().task_id == held.id  # user A's holder stays running throughout
    for client, tree in ((api, mine), (other_api, theirs)):
        assert client.post(f"/api/v1/trees/{tree['id']}/execute/").status_code == 200
    run_until_idle(timeout=30)
    assert other_api.get(f"/api/v1/trees/{theirs['id']}/").json()["status"] == "completed"
    assert Task.objects.get(id=mine["tasks"][0]["id"]).waiting_reason == HELD_PROD  # A waits for A


# --- shared resources, declared by staff and granted ---------------------------------------------


def test_a_shared_resource_granted_to_both_makes_them_exclude_each_other(user, other_user):
    team = Group.objects.create(name="team-a")
    other_user.groups.add(team)
    declare("db:team-a-prod", users=[user], groups=[team])  # A by name, B through a group
    held = started(user, "a-long", [PROD])
    assert claim().task_id == held.id
    waiting = started(other_user, "b-task", [PROD])
    assert claim() is None
    waiting.refresh_from_db()
    assert waiting.status == "pending" and waiting.waiting_reason == HELD_PROD
    assert list(ResourceLock.objects.values_list("key", flat=True)) == ["db:team-a-prod"]


def test_a_shared_resource_capacity_holds_across_users(user, other_user):
    team = Group.objects.create(name="gpu-users")
    other_user.groups.add(team)
    declare("gpu:0", capacity=2, users=[user], groups=[team])
    tasks = [
        started(user, "a1", [READ_GPU]),
        started(other_user, "b1", [READ_GPU]),
        started(user, "a2", [READ_GPU]),
    ]
    got = claim_all()
    assert len(got) == 2 and ResourceLock.objects.filter(key="gpu:0").count() == 2
    left = Task.objects.get(id__in=[x.id for x in tasks], status="pending")
    assert left.waiting_reason == "resource 'gpu:0' is at capacity 2"
    # an undeclared resource is private, without a capacity: only its modes apply (readers share)
    for i in range(3):
        started(user, f"r{i}", [{"type": "gpu", "identifier": "1", "mode": "read"}])
    assert len(claim_all()) == 3


def test_a_pool_granted_to_everyone_is_shared_as_before(user, other_user):
    declare("gpu:0", capacity=1, everyone=True)
    started(user, "a1", [READ_GPU])
    started(other_user, "b1", [READ_GPU])
    assert len(claim_all()) == 1


# --- refusals ----------------------------------------------------------------------------------


def test_creating_a_task_naming_an_ungranted_shared_resource_is_forbidden(api, other_api, user):
    declare("db:team-a-prod", users=[user])
    resp = other_api.post("/api/v1/trees/", [t("root", resources=[PROD])], format="json")
    assert resp.status_code == 403, resp.json()
    error = resp.json()["error"]
    assert error["code"] == "resource_not_granted"
    assert "db:team-a-prod" in error["message"] and error["details"]["resources"] == ["db:team-a-prod"]
    assert not Task.objects.filter(owner__username="mallory").exists()
    assert api.post("/api/v1/trees/", [t("root", resources=[PROD])], format="json").status_code == 201


def test_patch_and_jsonrpc_create_refuse_an_ungranted_shared_resource(other_api, user, other_user):
    declare("db:team-a-prod", users=[user])
    made = other_api.post("/api/v1/trees/", [t("root")], format="json").json()
    resp = other_api.patch(f"/api/v1/tasks/{made['tasks'][0]['id']}/", {"resources": [PROD]}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "resource_not_granted"
    assert Task.objects.get(id=made["tasks"][0]["id"]).resources == []
    body = {"jsonrpc": "2.0", "id": 1, "method": "tasks.create", "params": [t("root", resources=[PROD])]}
    rpc = other_api.post("/tasks", body, format="json")
    assert rpc.status_code == 403
    assert rpc.json()["error"]["code"] == -32005 and "db:team-a-prod" in rpc.json()["error"]["message"]


def test_copy_refuses_once_the_grant_is_revoked(api, make_tree, user):
    pool = declare("db:team-a-prod", users=[user])
    tree, _ = make_tree([t("root", resources=[PROD])])
    pool.users.clear()
    resp = api.post(f"/api/v1/trees/{tree['id']}/copy/", {"mode": "full"}, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "resource_not_granted"


def test_a_grant_revoked_before_the_claim_fails_the_task_without_taking_the_lock(user):
    pool = declare("db:team-a-prod", users=[user])
    task = started(user, "a1", [PROD])
    pool.users.clear()
    run_until_idle(timeout=30)
    task.refresh_from_db()
    assert task.status == "failed" and task.error_type == "resource_not_granted"
    assert "db:team-a-prod" in task.error
    assert Attempt.objects.filter(task=task).count() == 1 and not ResourceLock.objects.exists()


# --- what users see --------------------------------------------------------------------------------


def test_users_only_see_the_key_they_named(api, other_api, user, other_user):
    held = started(other_user, "b-long", [PROD])
    mine_first = started(user, "a1", [PROD])
    mine_second = started(user, "a2", [PROD])
    claim_all()
    lock_keys = set(ResourceLock.objects.values_list("key", flat=True))
    assert len(lock_keys) == 2  # one lock per owner: they did not block each other
    # the waiting task shows the key as its owner named it, never a namespace or a user id
    second = api.get(f"/api/v1/tasks/{mine_second.id}/").json()
    assert second["waiting_reason"] == HELD_PROD
    assert second["resources"] == [PROD]
    for shown in (second["waiting_reason"], str(second["resources"])):
        assert f"u{other_user.id}/" not in shown and f"u{user.id}/" not in shown
    events = Event.objects.filter(kind="task.waiting", task_id=mine_second.id)
    assert [e.data["reason"] for e in events] == [HELD_PROD]
    assert not Event.objects.filter(kind="task.waiting", task_id__in=[held.id, mine_first.id]).exists()


# --- the key function (engine) ---------------------------------------------------------------------


def test_lock_key_namespaces_what_is_not_shared():
    from tasks_app.engine.resources import Lock, is_namespaced, lock_key, public_key, scoped

    assert lock_key(7, "db:x", frozenset()) == "u7/db:x"
    assert lock_key(7, "db:x", {"db:x"}) == "db:x"
    assert public_key("u7/db:x") == "db:x" and public_key("db:x") == "db:x"
    assert public_key("u7/u9/db:x") == "u9/db:x"  # only the owner's namespace is taken off
    assert is_namespaced("u7/db:x") and not is_namespaced("db:x") and not is_namespaced("ux/db:x")
    assert scoped([Lock("db:y", "read"), Lock("gpu:0", "write")], 3, {"gpu:0"}) == [
        Lock("gpu:0", "write"),
        Lock("u3/db:y", "read"),
    ]


keys = st.builds(lambda a, b: f"{a}:{b}", st.text(min_size=1, max_size=6), st.text(min_size=1, max_size=6))


@given(
    owners=st.tuples(st.integers(1, 10**6), st.integers(1, 10**6)),
    key_pair=st.tuples(keys, keys),
    shared=st.sets(keys, max_size=3),
)
def test_lock_keys_meet_only_for_the_same_owner_or_a_shared_key(owners, key_pair, shared):
    """Two requests lock the same key iff they name the same resource and it is shared or they
    have one owner; a user always sees back the key they named."""
    from tasks_app.engine.resources import is_namespaced, lock_key, public_key

    shared = {k for k in shared if not is_namespaced(k)}  # what a declaration may be (model validator)
    (o1, o2), (k1, k2) = owners, key_pair
    l1, l2 = lock_key(o1, k1, shared), lock_key(o2, k2, shared)
    assert public_key(l1) == k1 and public_key(l2) == k2
    assert (l1 == l2) == (k1 == k2 and (k1 in shared or o1 == o2))


@given(n=st.integers(2, 5), seed=st.integers(0, 1000))
def test_simulator_agrees_exclusive_holders_of_different_owners_overlap(n, seed):
    from tasks_app.engine import Graph, Lock, Node, simulate

    graph = Graph(Node(f"t{i}", f"t{i}", created=i) for i in range(n))
    locks = {f"t{i}": [Lock("db:x", "exclusive")] for i in range(n)}
    apart = simulate(graph, workers=n, seed=seed, locks=locks, owners={f"t{i}": i for i in range(n)})
    assert sum(1 for e in apart.events if e[0] == "start" and e[1] == 0) == n
    together = simulate(graph, workers=n, seed=seed, locks=locks, owners={f"t{i}": 1 for i in range(n)})
    assert sum(1 for e in together.events if e[0] == "start" and e[1] == 0) == 1
    declared = simulate(
        graph, workers=n, seed=seed, locks=locks, owners={f"t{i}": i for i in range(n)}, shared={"db:x"}
    )
    assert sum(1 for e in declared.events if e[0] == "start" and e[1] == 0) == 1


# --- the admin: staff declare and grant; the locks page ---------------------------------------------


def test_staff_declare_and_grant_a_shared_resource_in_the_admin(client, staff_user, user, other_user):
    from django.urls import reverse

    team = Group.objects.create(name="team-a")
    other_user.groups.add(team)
    client.force_login(staff_user)
    add = reverse("admin:tasks_app_resourcepool_add")
    refused = client.post(add, {"key": f"u{user.id}/db:x", "capacity": "1", "description": ""})
    assert refused.status_code == 200 and "key" in refused.context["adminform"].form.errors
    resp = client.post(
        add,
        {
            "key": "db:team-a-prod",
            "capacity": "1",
            "description": "prod",
            "users": [user.id],
            "groups": [team.id],
        },
    )
    assert resp.status_code == 302
    pool = ResourcePool.objects.get(key="db:team-a-prod")
    assert not pool.everyone and list(pool.users.all()) == [user] and list(pool.groups.all()) == [team]
    listing = client.get(reverse("admin:tasks_app_resourcepool_changelist"))
    assert b"1 user(s), 1 group(s)" in listing.content
    # both are granted now: they exclude each other
    started(user, "a1", [PROD])
    started(other_user, "b1", [PROD])
    assert len(claim_all()) == 1


def test_the_locks_page_shows_the_key_as_named_and_whose_it_is(client, staff_user, user, other_user):
    from django.urls import reverse

    declare("gpu:0", capacity=2, everyone=True)
    started(user, "a1", [PROD])
    started(other_user, "b1", [PROD, READ_GPU])
    claim_all()
    client.force_login(staff_user)
    page = client.get(reverse("admin:tasks_app_resourcelock_changelist")).content.decode()
    assert page.count("db:team-a-prod") >= 2 and "private to alice" in page and "private to mallory" in page
    assert "shared" in page and f"u{user.id}/" not in page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]


# --- the claim path stays cheap ------------------------------------------------------------------


@pytest.mark.parametrize("blocked", [3, 12])
def test_a_claim_reads_locks_and_grants_once_per_page_not_per_task(user, other_user, blocked):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    team = Group.objects.create(name="team-a")
    user.groups.add(team)
    declare("gpu:0", capacity=1, groups=[team])
    holder = started(user, "holder", [PROD, READ_GPU])
    assert claim().task_id == holder.id
    tree = trees.tree_create(
        owner=user,
        tasks=[t("root")]
        + [t(f"w{i}", parent_id="root", resources=[PROD] if i % 2 else [READ_GPU]) for i in range(blocked)],
    )
    control.tree_execute(tree=tree, actor=user)
    with CaptureQueriesContext(connection) as queries:
        got = runs.claim_batch(worker="w1", limit=8)
    assert [c.name for c in got] == ["root"]
    assert Task.objects.filter(tree=tree, status="pending").exclude(waiting_reason="").count() == blocked
    reads = [
        q["sql"] for q in queries if "resourcelock" in q["sql"].lower() or "resourcepool" in q["sql"].lower()
    ]
    assert len(reads) <= 4, reads  # held locks, pools, user grants, group grants: whatever the page's size


def test_a_big_tree_naming_many_resources_is_checked_in_chunks(api, user):
    declare("db:k1999", users=[user])
    many = [t("root")] + [
        t(
            f"c{i}",
            parent_id="root",
            resources=[{"type": "db", "identifier": f"k{i * 20 + j}"} for j in range(20)],
        )
        for i in range(100)
    ]
    assert api.post("/api/v1/trees/", many, format="json").status_code == 201
    ResourcePool.objects.filter(key="db:k1999").get().users.clear()
    assert api.post("/api/v1/trees/", many, format="json").status_code == 403


# --- the upgrade -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_migration_grants_existing_pools_to_everyone_and_moves_held_locks(django_user_model):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    before, after = [("tasks_app", "0006_cache_table")], [("tasks_app", "0007_shared_resources")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    owner = old.get_model("auth", "User").objects.create(username="legacy")
    tree = old.get_model("tasks_app", "Tree").objects.create(owner_id=owner.id, name="t")
    task = old.get_model("tasks_app", "Task").objects.create(
        tree=tree, owner_id=owner.id, name="t", executor="noop"
    )
    attempt = old.get_model("tasks_app", "Attempt").objects.create(
        task=task, tree=tree, number=1, executor="noop", started_at=timezone.now()
    )
    old.get_model("tasks_app", "ResourcePool").objects.create(key="gpu:0", capacity=2)
    lock_model = old.get_model("tasks_app", "ResourceLock")
    for key in ("gpu:0", "db:x"):
        lock_model.objects.create(key=key, mode="read", attempt=attempt, task=task)
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps
    assert list(new.get_model("tasks_app", "ResourcePool").objects.values_list("key", "everyone")) == [
        ("gpu:0", True)
    ]
    assert sorted(new.get_model("tasks_app", "ResourceLock").objects.values_list("key", flat=True)) == [
        "gpu:0",
        f"u{owner.id}/db:x",
    ]
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # leave the database as the other tests expect


def test_editing_a_never_run_tree_in_place_checks_shared_resources(api, user):
    """POST /api/v1/trees/{id}/edit/ names resources like a create does."""
    from tasks_app.models import ResourcePool

    ResourcePool.objects.create(key="db:shared-edit", capacity=1)  # declared, granted to nobody
    tree = api.post(
        "/api/v1/trees/", [{"id": "root", "name": "root", "executor": "noop"}], format="json"
    ).json()
    body = [
        {
            "id": tree["id"],
            "name": "root",
            "executor": "noop",
            "resources": [{"type": "db", "identifier": "shared-edit", "mode": "write"}],
        }
    ]
    resp = api.post(f"/api/v1/trees/{tree['id']}/edit/", body, format="json")
    assert resp.status_code == 403 and resp.json()["error"]["code"] == "resource_not_granted", resp.json()
