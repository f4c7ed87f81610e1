"""Fixtures of the apflow-compatibility tests: the API personas of tests/api."""

from tests.api.conftest import api, client_for, drain, other_api, staff_api, token_for  # noqa: F401
