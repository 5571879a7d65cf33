"""Unsubscribes, STOPs and bounces: an address on this list is never messaged again, at once."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse

from capture.identity import email_key
from capture.models import Lead
from capture.privacy import identity_hash
from followup.models import Suppression

UNSUBSCRIBE_SALT = "followup.unsubscribe"


def unsubscribe_token(lead: Lead) -> str:
    """Signed, without an expiry: an unsubscribe link must work however old the email is."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(lead.pk)


def lead_id_from_token(token: str) -> int | None:
    try:
        value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except signing.BadSignature:
        return None
    return value if isinstance(value, int) else None


def unsubscribe_url(lead: Lead) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("followup:unsubscribe",
                                                   args=[unsubscribe_token(lead)])


def lift_stop(phone: str) -> bool:
    """The prospect texted START (or UNSTOP, YES...) after a STOP: texting them is allowed again.
    Only the STOP goes: an erasure, a bounce or a hand-made entry for the number stays."""
    deleted, _ = Suppression.objects.filter(
        kind=Suppression.Kind.PHONE, reason=Suppression.Reason.STOP,
        value_hash=identity_hash(Suppression.Kind.PHONE, phone.strip())).delete()
    return bool(deleted)


# Why an address gets no acknowledgement either: it cannot receive mail (a hard bounce), its
# owner reported ours as spam, or staff put it on the list. An unsubscribe is from the follow-up:
# a person who asks for a quote again is still told we have their request.
NO_ACKNOWLEDGEMENT = {
    Suppression.Reason.BOUNCE: "the address bounced before",
    Suppression.Reason.COMPLAINT: "the address marked our email as spam before",
    Suppression.Reason.MANUAL: "staff put the address on the suppression list",
}


def acknowledgement_refused(address: str) -> str:
    """Why an acknowledgement must not go to this address (NO_ACKNOWLEDGEMENT), or "": read
    by the worker as it sends, so the intake's request pays nothing for it."""
    key = email_key(address)
    if not key:
        return ""
    reason = (Suppression.objects.filter(kind=Suppression.Kind.EMAIL,
                                         value_hash=identity_hash(Suppression.Kind.EMAIL, key),
                                         reason__in=list(NO_ACKNOWLEDGEMENT))
              .values_list("reason", flat=True).first())
    return NO_ACKNOWLEDGEMENT[reason] if reason else ""


def suppress(*, kind: str, value: str, reason: str, lead: Lead | None = None) -> bool:
    """Add an address to the list (a second time does nothing). True when it is new.

    Every row carries the value's salted hash; an erased person's row keeps only the hash
    (capture/privacy.py), so a value already there as a hash is not written again in clear.
    """
    value = email_key(value) if kind == Suppression.Kind.EMAIL else value.strip()
    if not value:
        return False
    if Suppression.objects.filter(kind=kind, value_hash=identity_hash(kind, value)).exists():
        return False
    try:
        with transaction.atomic():
            Suppression.objects.create(kind=kind, value=value, reason=reason, lead=lead)
    except IntegrityError:
        return False
    return True
