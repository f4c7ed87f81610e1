"""Helpers for the admin tests: URLs, driving an action through the admin's views."""

from django.urls import reverse

from tasks_app.models import Event


def t(name, executor="noop", **kw):
    return {"id": name, "name": name, "executor": executor, **kw}


def changelist(model):
    return reverse(f"admin:tasks_app_{model}_changelist")


def change(model, pk):
    return reverse(f"admin:tasks_app_{model}_change", args=[pk])


def run_action(client, model, action, objects, *, follow=True, extra=None):
    """Drive an admin action like a browser: the changelist POST, then the confirmation POST."""
    ids = [str(o.pk) for o in objects]
    data = {"action": action, "_selected_action": ids, **(extra or {})}
    page = client.post(changelist(model), data)
    assert page.status_code == 200, page.status_code
    confirm = client.post(changelist(model), {**data, "post": "yes"}, follow=follow)
    return page, confirm


def messages_of(response):
    return [str(m) for m in response.context["messages"]] if response.context else []


def admin_events(user, **filters):
    return Event.objects.filter(source="admin", actor=user, **filters)


def change_form_data(response, **changes):
    """The POST a browser would send for an admin change page, with ``changes`` applied."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()  # already prepared for the widget (JSON as text)
        data[name] = "" if value is None else value
        if form.fields[name].show_hidden_initial:  # fields with a callable default, as rendered
            data[form[name].html_initial_name] = data[name]
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
    data.update(changes)
    return data
