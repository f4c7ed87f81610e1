"""Who reaches the admin, django-q2's pages (superusers only), resource pools and API tokens."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from tasks_app.models import ApiToken, ResourcePool

from .utils import change, changelist

pytestmark = pytest.mark.django_db

Q_MODELS = {"schedule", "success", "failure", "ormq"}


def test_anonymous_and_non_staff_are_sent_to_the_login_page(client, user):
    for url in ("/admin/", changelist("task"), changelist("event")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login") + "?next=")
    client.force_login(user)  # a regular, non-staff user
    response = client.get(changelist("task"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login"))
    login = client.get(response["Location"])
    assert b"authenticated as alice, but are not authorized" in login.content


def test_staff_reach_the_admin(client, operator):
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"Arbor administration" in response.content


def test_django_q_pages_stay_registered_for_superusers(client, operator):
    registered = {m._meta.model_name for m in admin.site._registry if m._meta.app_label == "django_q"}
    assert registered == Q_MODELS
    for name in Q_MODELS:
        assert client.get(reverse(f"admin:django_q_{name}_changelist")).status_code == 200
    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 200
    assert b"django_q" in client.get("/admin/").content


def test_django_q_pages_are_closed_to_staff_even_with_permissions(client, django_user_model):
    staff = django_user_model.objects.create_user("ops", password="pw-ops-12345", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["django_q", "tasks_app"])
    )
    client.force_login(staff)
    index = client.get("/admin/")
    assert index.status_code == 200
    assert b"/admin/tasks_app/task/" in index.content
    assert b"/admin/django_q/" not in index.content
    for name in Q_MODELS:
        assert client.get(reverse(f"admin:django_q_{name}_changelist")).status_code == 403
    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403
    created = client.post(
        reverse("admin:django_q_schedule_add"), {"func": "os.system", "schedule_type": "O", "repeats": "-1"}
    )
    assert created.status_code == 403
    assert client.get("/admin/django_q/").status_code in (403, 404)
    assert client.get(changelist("task")).status_code == 200


# --- resource pools -------------------------------------------------------------------------------


def test_resource_pool_created_and_capacity_edited(client, operator):
    response = client.post(
        changelist("resourcepool") + "add/", {"key": "gpu:0", "capacity": "2", "description": "the GPU"}
    )
    assert response.status_code == 302
    pool = ResourcePool.objects.get(key="gpu:0")
    assert pool.capacity == 2
    listing = client.get(changelist("resourcepool"))
    assert b"Held now" in listing.content
    response = client.post(
        change("resourcepool", pool.id), {"key": "gpu:0", "capacity": "4", "description": "x"}
    )
    assert response.status_code == 302
    pool.refresh_from_db()
    assert (pool.capacity, pool.description) == (4, "x")
    refused = client.post(
        change("resourcepool", pool.id), {"key": "gpu:0", "capacity": "0", "description": "x"}
    )
    assert refused.status_code == 200 and refused.context["adminform"].form.errors
    assert ResourcePool.objects.get(id=pool.id).capacity == 4


# --- API tokens -----------------------------------------------------------------------------------


def test_creating_a_token_shows_it_once_and_stores_only_the_digest(client, operator, user):
    response = client.post(changelist("apitoken") + "add/", {"user": user.id, "name": "ci", "expires_at": ""})
    assert response.status_code == 200
    raw = response.context["token"]
    assert raw.startswith(ApiToken.PREFIX)
    assert raw.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(name="ci")
    assert token.user == user and token.digest == ApiToken.hash(raw) and token.key_prefix == raw[:10]
    assert not any(raw in str(v) for v in ApiToken.objects.values_list().get(id=token.id))
    # never shown again: not on the list, the detail page, or in a message
    assert raw.encode() not in client.get(changelist("apitoken")).content
    detail = client.get(change("apitoken", token.id))
    assert raw.encode() not in detail.content and token.key_prefix.encode() in detail.content


def test_revoke_action_revokes_and_logs(client, operator, user):
    keep = ApiToken.objects.create(user=user, name="keep", key_prefix="arb_keep", digest="a" * 64)
    gone = ApiToken.objects.create(user=user, name="gone", key_prefix="arb_gone", digest="b" * 64)
    response = client.post(
        changelist("apitoken"), {"action": "revoke", "_selected_action": [gone.id]}, follow=True
    )
    assert "Revoked 1 token(s)." in [str(m) for m in response.context["messages"]]
    assert ApiToken.objects.get(id=gone.id).revoked is True
    assert ApiToken.objects.get(id=keep.id).revoked is False
    assert LogEntry.objects.filter(object_id=str(gone.id), user=operator, change_message="Revoked").exists()


def test_token_name_can_be_edited_but_not_its_owner(client, operator, user, other_user):
    token = ApiToken.objects.create(user=user, name="old", key_prefix="arb_x", digest="c" * 64)
    response = client.post(
        change("apitoken", token.id), {"user": other_user.id, "name": "new", "expires_at": ""}
    )
    assert response.status_code == 302
    token.refresh_from_db()
    assert (token.name, token.user_id, token.digest) == ("new", user.id, "c" * 64)


def test_resource_pool_capacity_edited_from_the_list(client, operator):
    pool = ResourcePool.objects.create(key="db:main", capacity=1)
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "form-0-id": str(pool.id),
        "form-0-capacity": "3",
        "_save": "Save",
    }
    response = client.post(changelist("resourcepool"), data)
    assert response.status_code == 302
    assert ResourcePool.objects.get(id=pool.id).capacity == 3
