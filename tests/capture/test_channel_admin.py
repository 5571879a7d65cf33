"""The admin for channels: 24-hour stats per channel, settings, API keys, webhook secrets."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from html import unescape

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.utils import timezone

from capture.intake import receive_event
from capture.models import ApiKey, ChannelSettings, InboundEvent, LinkedInForm, WebhookSource

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops_client(client, django_user_model):
    user = django_user_model.objects.create_user("ops-olivia", password="x", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="capture"))
    client.force_login(user)
    return client


@pytest.mark.parametrize("url", [
    "/admin/capture/channelsettings/", "/admin/capture/channelsettings/add/",
    "/admin/capture/apikey/", "/admin/capture/apikey/add/",
    "/admin/capture/webhooksource/", "/admin/capture/webhooksource/add/",
    "/admin/capture/lead/import/",
])
def test_every_channel_admin_page_loads_for_sales_ops(ops_client, url):
    assert ops_client.get(url).status_code == 200


def test_the_channel_page_counts_the_last_24_hours_per_channel(admin_client):
    from capture.channels.email import receive_email
    from tests.capture.conftest import load_bytes

    receive_email(load_bytes("email", "new_lead.eml"), via="test")  # a new lead
    receive_email(load_bytes("email", "out_of_office.eml"), via="test")  # ignored
    receive_email(load_bytes("email", "archive.mbox").split(b"\nFrom grace")[1]
                  .split(b"\n", 1)[1], via="test")  # another new lead
    old, _, _ = receive_event(channel="email", external_id="old", payload={},
                              status=InboundEvent.Status.REJECTED, reason="x")
    InboundEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=2))
    receive_event(channel="twilio-sms", external_id="SMx", payload={},
                  status=InboundEvent.Status.FAILED, reason="boom")
    html = admin_client.get("/admin/capture/channelsettings/").content.decode()

    def cells(channel: str) -> list[str]:
        row = html.split(f">{channel}</a></td>")[1].split("</tr>")[0]
        return re.findall(r"<td>(?:<a[^>]*>)?(?:<strong>)?([^<]*)", row)

    # received, created, matched, rejected, ignored, failed, waiting
    assert cells("email")[:7] == ["3", "2", "0", "0", "1", "0", "0"]
    assert cells("twilio-sms")[:7] == ["1", "0", "0", "0", "0", "1", "0"]


def test_sales_ops_edit_a_channel_s_settings(ops_client):
    response = ops_client.post("/admin/capture/channelsettings/add/", {
        "channel": "twilio", "is_active": "on", "source": "phones", "default_region": "GB",
        "forward_to": "+442079460958", "greeting": "Hello", "reply_text": "",
        "own_addresses": "", "field_mapping": "{}"})
    assert response.status_code == 302
    assert ChannelSettings.for_channel("twilio").forward_to == "+442079460958"


def test_an_api_key_made_in_the_admin_is_shown_once_and_works(admin_client, client):
    response = admin_client.post("/admin/capture/apikey/add/", {
        "name": "Website", "source": "website", "is_active": "on", "field_mapping": "{}",
        "return_origins": "", "default_region": "", "rate_limit_per_minute": "60"},
        follow=True)
    key = re.search(r"<code>(lcrm_[^<]+)</code>", response.content.decode()).group(1)
    assert ApiKey.objects.get().key_hash != key
    again = admin_client.get(f"/admin/capture/apikey/{ApiKey.objects.get().pk}/change/")
    assert key not in again.content.decode()
    answer = client.post("/api/v1/leads/", {"email": "a@x.co"},
                         content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert answer.status_code == 201


@pytest.fixture
def demo_ops_client(client, monkeypatch):
    """Signed in as the demo's sales ops login (seed_demo's "ops", in the Sales ops group)."""
    from django.contrib.auth.models import User

    monkeypatch.setenv("DEMO_PASSWORD", "a-demo-password-1")
    call_command("seed_demo", verbosity=0)
    client.force_login(User.objects.get(username="ops"))
    return client


def test_sales_ops_see_a_webhook_s_secret_and_how_its_sender_signs(demo_ops_client, settings):
    # Only superusers saw the secret, and the page said nothing of how a sender signs: sales
    # ops, who set sources up, could hand the sender neither.
    settings.SITE_URL = "https://crm.example.com"
    source = WebhookSource.objects.create(slug="zap", name="Zapier")
    html = demo_ops_client.get(f"/admin/capture/webhooksource/{source.pk}/change/").content
    text = unescape(html.decode())
    assert source.secret in text
    assert "https://crm.example.com/inbound/webhook/zap/" in text
    assert "X-Leadcrm-Timestamp" in text and "X-Leadcrm-Signature" in text
    assert "HMAC-SHA256" in text and "<timestamp>.<body>" in text and "300 seconds" in text
    shell, python = re.findall(r"<pre>(.*?)</pre>", text, re.S)
    assert f"SECRET={source.secret}" in shell and "openssl dgst -sha256 -hmac" in shell
    assert f'SECRET = "{source.secret}"' in python
    # They give it a new one from the list when it leaked; the old one stops working.
    old = source.secret
    response = demo_ops_client.post("/admin/capture/webhooksource/", {
        "action": "new_secret", "_selected_action": [source.pk]})
    assert response.status_code == 302
    source.refresh_from_db()
    assert source.secret != old and source.secret.startswith("whsec_")


def test_a_user_who_may_only_view_webhook_sources_never_sees_the_secret(client,
                                                                         django_user_model):
    source = WebhookSource.objects.create(slug="zap", name="Zapier")
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_webhooksource"))
    client.force_login(viewer)
    page = client.get(f"/admin/capture/webhooksource/{source.pk}/change/")
    html = unescape(page.content.decode())
    assert page.status_code == 200
    assert source.secret not in html and f"…{source.secret[-4:]}" in html
    assert "X-Leadcrm-Signature" in html and "SECRET='<the secret>'" in html  # the help, still
    old = source.secret
    client.post("/admin/capture/webhooksource/", {"action": "new_secret",
                                                  "_selected_action": [source.pk]})
    source.refresh_from_db()
    assert source.secret == old


@pytest.mark.django_db(transaction=True)
def test_the_signing_examples_on_the_page_are_taken_in_as_they_are(admin_client, live_server,
                                                                   settings, tmp_path):
    """Each example, copied from the page and run, makes the lead: the page states what the
    verifier checks."""
    import subprocess
    import sys

    from capture.models import Lead

    settings.SITE_URL = live_server.url
    source = WebhookSource.objects.create(slug="zap", name="Zapier")
    html = unescape(admin_client.get(f"/admin/capture/webhooksource/{source.pk}/change/")
                    .content.decode())
    shell, python = re.findall(r"<pre>(.*?)</pre>", html, re.S)
    for command in (["bash", "-c", shell], [sys.executable, "-c", python]):
        # The page's own examples, against this test's server.
        result = subprocess.run(command, capture_output=True, text=True,  # noqa: S603
                                timeout=30, check=False)
        assert result.returncode == 0, result.stderr
        assert '"status": "processed"' in result.stdout, result.stdout
    lead = Lead.objects.get()  # the same body twice: one lead
    assert (lead.email, lead.first_name, lead.source) == ("jane.doe@example.com", "Jane", "zap")


def test_a_fresh_install_lists_every_channel_to_open_and_edit(ops_client):
    """docs/channels.md sends sales ops to "Channel settings → Twilio calls and SMS": on a fresh
    install the list was empty and the row had to be added by hand first."""
    html = ops_client.get("/admin/capture/channelsettings/").content.decode()
    for label in ChannelSettings.Name.labels:
        assert label in html
    twilio = ChannelSettings.objects.get(channel="twilio")
    assert twilio.is_active and twilio.forward_to == ""  # the defaults the channel ran on
    response = ops_client.post(f"/admin/capture/channelsettings/{twilio.pk}/change/", {
        "channel": "twilio", "is_active": "on", "source": "phones", "default_region": "GB",
        "forward_to": "+442079460958", "greeting": "Hello", "reply_text": "",
        "own_addresses": "", "field_mapping": "{}"})
    assert response.status_code == 302
    assert ChannelSettings.for_channel("twilio").forward_to == "+442079460958"
    ops_client.get("/admin/capture/channelsettings/")  # opening it again adds nothing
    assert ChannelSettings.objects.count() == len(ChannelSettings.Name.values)


CHANNEL_FORM = {"channel": "twilio", "is_active": "on", "source": "phones",
                "forward_to": "", "greeting": "Hello", "reply_text": "", "own_addresses": "",
                "field_mapping": "{}"}


@pytest.mark.parametrize(("url", "data"), [
    ("/admin/capture/channelsettings/add/", CHANNEL_FORM),
    ("/admin/capture/apikey/add/", {"name": "Web", "source": "web", "is_active": "on",
                                    "field_mapping": "{}", "return_origins": "",
                                    "rate_limit_per_minute": "60"}),
    ("/admin/capture/webhooksource/add/", {"name": "Zap", "slug": "zap", "is_active": "on",
                                           "secret": "s" * 40,
                                           "field_mapping": "{}"}),
    ("/admin/capture/linkedinform/add/", {"name": "Demo", "form_id": "123", "is_active": "on",
                                          "question_mapping": "{}", "source": "li"}),
])
def test_every_default_region_refuses_one_phone_numbers_do_not_know(admin_client, url, data):
    """"ZZ" made every local number that source sent fail with "Add the country code"; only
    the intake form's region was checked. Lower case is kept as the code it means."""
    ChannelSettings.objects.all().delete()
    refused = admin_client.post(url, {**data, "default_region": "ZZ"})
    assert refused.status_code == 200
    assert "is not a country code phone numbers know" in refused.content.decode()
    assert admin_client.post(url, {**data, "default_region": "gb"}).status_code == 302
    model = refused.context["adminform"].form._meta.model
    assert model.objects.get().default_region == "GB"


def test_create_api_key_refuses_a_region_phone_numbers_do_not_know():
    with pytest.raises(CommandError, match="not a country code"):
        call_command("create_api_key", "Web", "--region", "ZZ", stdout=io.StringIO())
    assert not ApiKey.objects.exists()
    call_command("create_api_key", "Web", "--region", "de", stdout=io.StringIO())
    assert ApiKey.objects.get().default_region == "DE"



@pytest.mark.parametrize(("model", "data", "field"), [
    (ChannelSettings, {"channel": "meta", "is_active": "on"}, "field_mapping"),
    (ApiKey, {"name": "Partner", "source": "partner", "is_active": "on",
              "rate_limit_per_minute": "60"}, "field_mapping"),
    (WebhookSource, {"name": "Zapier", "slug": "zap", "is_active": "on", "secret": "s" * 40},
     "field_mapping"),
    (LinkedInForm, {"name": "Webinar", "form_id": "123456", "is_active": "on",
                    "source": "linkedin"}, "question_mapping"),
])
def test_a_mapping_box_emptied_saves_no_mapping_rather_than_a_server_error(
        admin_client, model, data, field):
    """Sales ops removing every mapping clear the box: the page answered 500 (NOT NULL)."""
    url = f"/admin/capture/{model._meta.model_name}/add/"
    response = admin_client.post(url, {**data, field: ""})
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert getattr(model.objects.get(), field) == {}


def test_a_mapping_typed_without_quotes_says_how_to_write_it(admin_client):
    """"{FirstName: first_name}" got "Enter a valid JSON.", a word sales ops need not know."""
    response = admin_client.post("/admin/capture/apikey/add/", {
        "name": "Partner", "source": "partner", "is_active": "on",
        "rate_limit_per_minute": "60", "field_mapping": "{FirstName: first_name}"})
    page = response.content.decode()
    assert response.status_code == 200 and "Enter a valid JSON" not in page
    assert "Write each pair in double quotes" in page
    assert "{FirstName: first_name}" in page  # what was typed stays in the box to correct
    assert not ApiKey.objects.exists()


def test_help_texts_show_the_addresses_they_describe(ops_client):
    """The admin renders help texts as HTML, so "/api/v1/forms/<source>/" read
    "/api/v1/forms//" and "urn:li:leadGenForm:<number>" lost its number: the placeholder was
    taken for a tag."""
    page = ops_client.get("/admin/capture/apikey/add/").content.decode()
    assert "/api/v1/forms/&lt;source&gt;/" in page and "/api/v1/forms//" not in page
    key = ApiKey.issue("Partner Acme", "acme")[0]
    page = ops_client.get(f"/admin/capture/apikey/{key.pk}/change/").content.decode()
    assert "/api/v1/forms/acme/" in page
    page = ops_client.get("/admin/capture/linkedinform/add/").content.decode()
    assert "urn:li:leadGenForm:&lt;number&gt;" in page
