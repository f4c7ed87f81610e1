"""services.resources: which shared resources a user may lock (ResourcePool grants)."""

import pytest
from django.contrib.auth.models import Group

from tasks_app.exceptions import ResourceNotGranted
from tasks_app.models import ResourcePool
from tasks_app.services import resources

pytestmark = pytest.mark.django_db


def res(key, mode="write"):
    kind, ident = key.split(":", 1)
    return {"type": kind, "identifier": ident, "mode": mode}


def test_undeclared_resources_are_private_and_need_no_grant(user):
    assert resources.shared_resources(["db:x"], [user.pk]) is resources.NONE
    resources.check_granted(user.pk, [[res("db:x")], None, []])  # no error


def test_a_pool_for_everyone_is_granted_to_all(user, other_user):
    ResourcePool.objects.create(key="db:shared", capacity=3, everyone=True)
    shared = resources.shared_resources(["db:shared", "db:private"], [user.pk, other_user.pk])
    assert shared.capacity == {"db:shared": 3} and shared.grants == {"db:shared": None}
    assert shared.refused(other_user.pk, [("db:shared", "write")]) == []


def test_a_restricted_pool_is_granted_to_its_users_and_groups_only(user, other_user, django_user_model):
    team = Group.objects.create(name="team")
    member = django_user_model.objects.create_user("member", password="pw-member-123")
    member.groups.add(team)
    pool = ResourcePool.objects.create(key="gpu:a", capacity=1)
    pool.users.add(user)
    pool.groups.add(team)
    shared = resources.shared_resources(["gpu:a"], [user.pk, other_user.pk, member.pk])
    assert shared.grants["gpu:a"] == frozenset({user.pk, member.pk})
    assert shared.refused(other_user.pk, [("gpu:a", "read")]) == ["gpu:a"]
    resources.check_granted(member.pk, [[res("gpu:a")]])
    with pytest.raises(ResourceNotGranted) as refused:
        resources.check_granted(other_user.pk, [[res("gpu:a"), res("db:mine")]])
    assert refused.value.details == {"resources": ["gpu:a"]}
    assert "gpu:a" in str(refused.value) and "not granted to you" in str(refused.value)


def test_many_keys_are_read_in_chunks(user, django_assert_num_queries):
    keys = [f"db:k{i}" for i in range(resources.CHUNK + 5)]
    ResourcePool.objects.create(key=keys[-1], everyone=True)
    with django_assert_num_queries(2):
        shared = resources.shared_resources(keys, [user.pk])
    assert list(shared.keys) == [keys[-1]]


def test_not_granted_message_names_every_key():
    message = resources.not_granted_message(["a:1", "b:2"])
    assert "'a:1'" in message and "'b:2'" in message and message.count(";") == 1
