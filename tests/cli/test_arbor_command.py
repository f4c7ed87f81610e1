"""`manage.py arbor`: whose trees it works on is always explicit."""

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def test_without_a_user_and_without_the_demo_user_it_says_what_to_pass(django_user_model):
    django_user_model.objects.create_user("cli")  # a non-superuser 'cli' made by hand
    with pytest.raises(CommandError, match="pass --user NAME or set ARBOR_CLI_USER"):
        call_command("arbor", "stats")
    assert list(django_user_model.objects.values_list("username", flat=True)) == ["cli"]


def test_no_user_is_created_silently(django_user_model):
    with pytest.raises(CommandError):
        call_command("arbor", "stats")
    assert not django_user_model.objects.exists()


def test_user_from_the_flag_or_the_environment(user, monkeypatch, capsys):
    call_command("arbor", "--user", "alice", "stats")
    monkeypatch.setenv("ARBOR_CLI_USER", "alice")
    call_command("arbor", "stats")
    with pytest.raises(CommandError, match="no user 'bob'"):
        call_command("arbor", "--user", "bob", "stats")


def test_the_demo_user_is_the_default(django_user_model):
    django_user_model.objects.create_user("demo")
    call_command("arbor", "stats")
