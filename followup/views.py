"""The public unsubscribe page: a confirmation button, or a mail client's one-click POST
(RFC 8058)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from capture import abuse
from capture.models import Lead
from capture.privacy import is_suppressed
from followup.services import unsubscribe_lead
from followup.suppression import lead_id_from_token


@csrf_exempt  # List-Unsubscribe-Post comes from the mail provider, without our CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks, POST unsubscribes.

    Mail scanners and link previews open every link in an email: a GET that unsubscribed would
    unsubscribe prospects who never clicked. So GET shows a button, and only a POST — that
    button, or the mail client's own unsubscribe button (`List-Unsubscribe=One-Click`) —
    unsubscribes. Both POSTs come without a CSRF token that could be checked (the mail client's
    never has one), and none is needed: the signed token in the URL is what proves the link
    came from our email, and the worst a forged POST can do is what the link itself does.
    """
    if request.method == "POST" and abuse.is_rate_limited(
            request, "unsubscribe", settings.WEBHOOK_RATE_LIMIT_PER_MINUTE):
        # High (mail providers post one-click unsubscribes from shared addresses), but there.
        response = HttpResponse("Too many requests from this address; try again in a minute.",
                                status=429, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = "60"
        return response
    lead_id = lead_id_from_token(token)
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id else None
    if lead is None:
        return render(request, "followup/unsubscribe.html", {"invalid": True}, status=404)
    if request.method == "GET":
        return render(request, "followup/unsubscribe.html", {
            "confirm": True, "email": lead.email,
            "already": is_suppressed(lead, "email")})
    unsubscribe_lead(lead)
    return render(request, "followup/unsubscribe.html", {"email": lead.email})
