"""services.triggers: create, rotate and delete inbound triggers, authenticate a fire (with the
clock passed in: ``now=``), parse its body and start the run."""

import pytest

from tasks_app.exceptions import ValidationError
from tasks_app.models import AuditEvent, AuditKind, Task, Trigger
from tasks_app.services import triggers
from tasks_app.services.signing import sign

pytestmark = pytest.mark.django_db
NOW = 1_800_000_000.0


@pytest.fixture
def tree(run_tree):
    tree, _ = run_tree([{"id": "root", "name": "root", "executor": "echo"}], execute=False)
    return tree


def hmac_fire(trigger, secret, body=b"{}", *, at=NOW, sent=NOW, signature=None):
    ts = str(int(sent))
    triggers.authenticate(
        trigger,
        body=body,
        signature=signature or sign(secret, ts, body),
        timestamp=ts,
        authorization=None,
        now=at,
    )


def test_hmac_trigger_keeps_its_secret_and_checks_signature_and_time(tree, user, settings):
    settings.ARBOR_TRIGGER_TOLERANCE = 300
    created = triggers.trigger_create(tree=tree, actor=user, name="hook")
    trigger = created.trigger
    assert trigger.secret == created.secret and trigger.owner_id == user.pk
    hmac_fire(trigger, created.secret)
    hmac_fire(trigger, created.secret, at=NOW + 300)  # the edge of the window
    with pytest.raises(triggers.TriggerUnauthorized, match="300 s away"):
        hmac_fire(trigger, created.secret, at=NOW + 301)
    with pytest.raises(triggers.TriggerUnauthorized, match="signature or secret"):
        hmac_fire(trigger, created.secret, signature="sha256=00")
    with pytest.raises(triggers.TriggerUnauthorized):
        triggers.authenticate(trigger, body=b"", signature="x", timestamp="soon", authorization=None, now=NOW)
    assert AuditEvent.objects.filter(kind=AuditKind.TRIGGER_CREATED, target=f"trigger:{trigger.id}").exists()


def test_bearer_trigger_stores_only_a_digest_and_rotation_replaces_it(tree, user):
    created = triggers.trigger_create(tree=tree, actor=user, mode="bearer")
    trigger = created.trigger
    assert trigger.secret == "" and trigger.secret_digest == Trigger.digest(created.secret)
    auth = {"body": b"", "signature": None, "timestamp": None}
    triggers.authenticate(trigger, authorization=f"Bearer {created.secret}", **auth)
    rotated = triggers.trigger_rotate(trigger=trigger, actor=user)
    with pytest.raises(triggers.TriggerUnauthorized):
        triggers.authenticate(rotated.trigger, authorization=f"Bearer {created.secret}", **auth)
    triggers.authenticate(rotated.trigger, authorization=f"bearer {rotated.secret}", **auth)
    assert AuditEvent.objects.filter(kind=AuditKind.TRIGGER_ROTATED).count() == 1


def test_bad_mode_is_refused_naming_the_field(tree, user):
    with pytest.raises(ValidationError, match="mode"):
        triggers.trigger_create(tree=tree, actor=user, mode="basic")


@pytest.mark.parametrize(
    "body, match",
    [
        (b"[1]", "must be a JSON object"),
        (b"{", "not valid JSON"),
        (b"\xff", "not valid JSON"),
        (b'{"a": "\\u0000"}', "NUL"),
        (b'{"a":' * 60 + b"1" + b"}" * 60, "nested deeper"),
    ],
)
def test_parse_body_refuses_what_cannot_become_inputs(body, match):
    with pytest.raises(ValidationError, match=match):
        triggers.parse_body(body)


def test_parse_body_limits_the_size_and_reads_an_empty_body_as_no_inputs(settings):
    assert triggers.parse_body(b"  ") == {} and triggers.parse_body(b'{"x": 1}') == {"x": 1}
    settings.ARBOR_TRIGGER_MAX_BYTES = 8
    with pytest.raises(triggers.BodyTooLarge):
        triggers.parse_body(b'{"x": 12345}')


def test_fire_runs_the_tree_with_the_inputs_and_counts(tree, user):
    trigger = triggers.trigger_create(tree=tree, actor=user).trigger
    fired = triggers.trigger_fire(trigger=trigger, inputs={"x": 1})
    assert fired.status == "in_progress"
    assert Task.objects.get(tree=tree).inputs == {"x": 1}
    trigger.refresh_from_db()
    assert trigger.fire_count == 1 and trigger.last_fired_at is not None


def test_a_disabled_trigger_or_an_inactive_owner_does_not_fire(tree, user):
    trigger = triggers.trigger_create(tree=tree, actor=user, enabled=False).trigger
    with pytest.raises(triggers.TriggerDisabled, match="disabled"):
        triggers.trigger_fire(trigger=trigger, inputs={})
    triggers.trigger_update(trigger=trigger, data={"enabled": True, "other": 1}, actor=user)
    user.is_active = False
    user.save()
    with pytest.raises(triggers.TriggerDisabled, match="owner is inactive"):
        triggers.trigger_fire(trigger=trigger, inputs={})
    triggers.trigger_delete(trigger=trigger, actor=user)
    assert not Trigger.objects.exists()
