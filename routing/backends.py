"""The login lock: django-axes' backend, for logins that come through a web request."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginLockBackend(AxesStandaloneBackend):
    """Refuses a locked-out username and IP address before the password is even checked.

    An authenticate() call without a request (a shell, Django's test client) has no IP address
    to lock and is not reachable from the web, so it passes through to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
