"""The lead page's "Reply on their channel" panel: what each channel allows, the form, and the
replies sent with their delivery status. routing's lead page mounts it (action "reply")."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest

from capture.models import Lead
from followup.models import OutboundMessage
from followup.replies import DuplicateReply, ReplyNotAllowed, queue_reply, reply_options
from routing.forms import LinesField

RECENT_REPLIES = 10


class ReplyForm(forms.Form):
    channel = forms.ChoiceField(label="Reply on", widget=forms.RadioSelect)
    body = LinesField(label="Message", required=False, max_length=4096,
                           widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, options=(), **kwargs):
        kwargs.setdefault("auto_id", "id_reply-%s")  # the lead page has other "body" fields
        super().__init__(*args, **kwargs)
        self.options = {o.key: o for o in options}
        allowed = [o for o in options if o.allowed]
        self.fields["channel"].choices = [(o.key, f"{o.label} ({o.to})") for o in allowed]
        if len(allowed) == 1:
            self.fields["channel"].initial = allowed[0].key

    def clean(self):
        data = super().clean()
        option = self.options.get(data.get("channel", ""))
        body = (data.get("body") or "").strip()
        if option is None:
            return data
        if option.mode != "template" and not body:
            self.add_error("body", "Write the reply.")
        elif len(body) > option.max_length:
            self.add_error("body", f"{option.label} allows at most {option.max_length} "
                           f"characters (this is {len(body)}).")
        return data


def reply_panel(lead: Lead, form: ReplyForm | None = None) -> dict:
    """The panel's context: the options with their reasons, the form, the recent replies
    (and, for the Email tab, the rep emails among them)."""
    options = reply_options(lead)
    written = list(OutboundMessage.objects.filter(lead=lead, kind=OutboundMessage.Kind.REPLY)
                   .select_related("sent_by").order_by("-created_at", "-id")[:RECENT_REPLIES])
    email = OutboundMessage.Channel.EMAIL
    return {"options": options, "any_allowed": any(o.allowed for o in options),
            "form": form or ReplyForm(options=options),
            "recent": [row for row in written if row.channel != email],
            "emails": [row for row in written if row.channel == email],
            "texts": [row for row in written if row.channel == OutboundMessage.Channel.SMS]}


def reply_action(request: HttpRequest, lead: Lead) -> dict | None:
    """POST /leads/<id>/reply/: queue the reply through the outbox; a form with errors else."""
    options = reply_options(lead)
    form = ReplyForm(request.POST, options=options)
    if not form.is_valid():
        return {"reply": form}
    try:
        message = queue_reply(lead=lead, user=request.user, key=form.cleaned_data["channel"],
                              body=form.cleaned_data["body"])
    except ReplyNotAllowed as exc:
        form.add_error(None, str(exc))
        return {"reply": form}
    except DuplicateReply as exc:
        messages.info(request, str(exc))
        return None
    messages.success(request, f"{message.get_channel_display()} reply queued: it goes out "
                     "now, and its delivery shows below.")
    return None
