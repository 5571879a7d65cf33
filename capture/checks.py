"""Deploy checks of our own (`manage.py check --deploy`): keys that must not be the defaults.

The repository's default SECRET_KEY lets `make run`, `make test` and `make bench` start on a
fresh machine; anyone who reads the repository knows it, and with it can forge what it signs
or keys: the suppression list's hashes (PRIVACY_HASH_KEY defaults to a key derived from it),
unsubscribe links, chat visitor tokens, the public form's start tokens, sessions. Django's own
check (security.W009) passes it (it is long and varied), so this one names it.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks

SECRET_KEY_MIN_LENGTH = 50  # Django's own floor for a secret key (security.W009)
HASH_KEY_MIN_LENGTH = 32  # an HMAC-SHA256 key: 32 random characters are plenty


def weakness(key: str, min_length: int = SECRET_KEY_MIN_LENGTH) -> str | None:
    """Why this key is no secret; None for a long random one."""
    if not key:
        return "is empty"
    development = getattr(settings, "DEVELOPMENT_SECRET_KEY", None)
    if key == development or key.startswith(("insecure-", "django-insecure-")):
        return "is the repository's development key, which anyone can read"
    if len(key) < min_length or len(set(key)) < 5:
        return f"is too short or too plain (at least {min_length} random characters)"
    return None


@checks.register(checks.Tags.security, deploy=True)
def check_secret_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    errors = []
    reason = weakness(getattr(settings, "SECRET_KEY", "") or "")
    if reason:
        errors.append(checks.Error(
            f"SECRET_KEY {reason}: sessions, unsubscribe links, chat tokens, form start "
            "tokens and (by default) the erased people's hashes could be forged.",
            hint="Set SECRET_KEY in the environment to a long random value, e.g. "
                 "python -c 'import secrets; print(secrets.token_urlsafe(50))' "
                 "(README, Production).",
            id="leadcrm.E001"))
    hash_key = getattr(settings, "PRIVACY_HASH_KEY", "") or ""
    if hash_key == "privacy:" + (getattr(settings, "SECRET_KEY", "") or ""):
        hash_reason = None  # the default, derived from SECRET_KEY: checked just above
    else:  # set on its own (kept across a SECRET_KEY rotation, say)
        hash_reason = weakness(hash_key.removeprefix("privacy:"), HASH_KEY_MIN_LENGTH)
    if hash_reason:
        errors.append(checks.Error(
            f"PRIVACY_HASH_KEY {hash_reason}: the suppression list's hashes of erased people "
            "could be recomputed by anyone who has their email address or phone number.",
            hint="Set PRIVACY_HASH_KEY to a long random value, or leave it unset so it is "
                 "derived from SECRET_KEY (docs/privacy.md).",
            id="leadcrm.E002"))
    return errors
