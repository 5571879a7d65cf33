"""The public unsubscribe page: one click (GET) or a mail client's one-click POST (RFC 8058)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from capture.models import Lead
from followup.services import unsubscribe_lead
from followup.suppression import lead_id_from_token


@csrf_exempt  # List-Unsubscribe-Post comes from the mail provider, without our CSRF token
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    lead_id = lead_id_from_token(token)
    lead = Lead.objects.filter(pk=lead_id).first() if lead_id else None
    if lead is None:
        return render(request, "followup/unsubscribe.html", {"invalid": True}, status=404)
    unsubscribe_lead(lead)
    return render(request, "followup/unsubscribe.html", {"email": lead.email})
