"""Public capture URLs: the form pages, the intake API and the provider webhooks."""

from django.urls import include, path, re_path

from capture import views
from capture.channels import (
    api,
    base,
    calendly,
    email,
    linkedin,
    meta,
    openapi,
    slack,
    telegram,
    twilio,
    webhook,
    x,
)

app_name = "capture"

urlpatterns = [
    path("q/<slug:slug>/", views.intake_form_page, name="form"),
    path("q/<slug:slug>/thanks/", views.thanks_page, name="thanks"),
    path("api/v1/leads/", api.api_leads, name="api-leads"),
    path("api/v1/openapi.json", openapi.openapi, name="api-openapi"),
    path("api/v1/forms/<slug:source>/", api.form_post, name="api-form"),
    path("inbound/twilio/voice/", twilio.voice_view, name="twilio-voice"),
    path("inbound/twilio/sms/", twilio.sms_view, name="twilio-sms"),
    path("inbound/twilio/status/", twilio.status_view, name="twilio-status"),
    path("inbound/meta/", meta.meta_view, name="meta"),
    path("inbound/calendly/", calendly.calendly_view, name="calendly"),
    path("inbound/linkedin/", linkedin.linkedin_view, name="linkedin"),
    path("inbound/telegram/", telegram.telegram_view, name="telegram"),
    path("inbound/slack/", slack.slack_view, name="slack"),
    path("inbound/x/", x.x_view, name="x"),
    path("inbound/twilio/message-status/", twilio.message_status_view,
         name="twilio-message-status"),
    path("inbound/webhook/<slug:source>/", webhook.webhook_view, name="webhook"),
    path("inbound/email/", include(email.anymail_urls())),
    # Last: any other address under /inbound/ or /api/ is a JSON 404, as channels answer.
    re_path(r"^(?:inbound|api)/", base.no_such_endpoint, name="no-such-endpoint"),
]
