"""Authentication backend of the test settings (imported by Django once it is set up)."""

from axes.backends import AxesStandaloneBackend


class RequestOptionalAxesBackend(AxesStandaloneBackend):
    """django-axes refuses ``authenticate()`` without a request, and Django's test ``Client.login()``
    sends none. Such logins skip the lockout check here; tests of the login pages post to the real
    pages, which pass the request, so the lockout applies to them as in production."""

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
