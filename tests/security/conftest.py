"""Security regression tests (docs/security.md): each broken behaviour found by an outside attack
becomes a test here that fails without its fix. They run on SQLite and on PostgreSQL."""

from tests.api.conftest import api, client_for, drain, make_tree, other_api, staff_api, t, token_for  # noqa: F401
