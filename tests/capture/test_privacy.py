"""A person's data on request: export everything, erase without a trace, stay suppressed.

Grace Hopper reaches us through five channels (the public form, an SMS, the JSON API, a CSV
import, an email) and once as rejected spam; the export must hold all of it, and after the
erasure her email, phone and name appear in no column of any table.
"""

from __future__ import annotations

import io
import json
import zipfile
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection

from capture.channels.email import receive_email
from capture.intake import IntakeInput, receive_lead
from capture.models import BlockRule, InboundEvent, Lead, LeadAccess, LeadStatus, PrivacyRequest
from capture.privacy import (
    erase_person,
    erased_identity,
    erasure_preview,
    find_person,
    identity_hash,
)
from followup.models import OutboundMessage, Suppression
from tests.capture.conftest import PAYLOADS, load_json
from tests.capture.test_api import post as api_post
from tests.capture.test_social import telegram_post
from tests.capture.test_twilio import twilio_post
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EMAIL, PHONE = "grace@navy.mil", "+14155552671"
TRACES = ("grace@navy.mil", "+14155552671", "4155552671", "Grace", "Hopper")
GRACE_EMAIL = (
    b"X-Fixture-Source: RFC 5322 message as in tests/capture/payloads/email/new_lead.eml\r\n"
    b"From: Grace Hopper <grace@navy.mil>\r\nTo: sales@example.com\r\n"
    b"Subject: Following up on my quote\r\nMessage-ID: <grace-0002@navy.mil>\r\n"
    b"Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\nAny news on the quote? Grace\r\n")


@pytest.fixture
def ops(db):
    group, _ = Group.objects.get_or_create(name="Sales ops")
    group.permissions.set(Permission.objects.filter(
        content_type__app_label="capture",
        codename__in=["export_person", "erase_person", "view_privacyrequest"]))
    user = UserFactory(username="olivia", is_staff=True)
    user.groups.add(group)
    return user


@pytest.fixture
def grace(visitor, client):
    """Grace through the form (then won), SMS (a new lead after the won one), the API, an
    import, an email, and one spam submission kept as a rejected event."""
    visitor.submit(first_name="Grace", last_name="Hopper", email=EMAIL, phone=PHONE,
                   company="US Navy", message="Quote for 40 seats please", consent="on")
    first = Lead.objects.get(email_key=EMAIL)
    Lead.objects.filter(pk=first.pk).update(status=LeadStatus.WON)
    sms = load_json("twilio", "sms.json")["params"]
    assert twilio_post(client, "/inbound/twilio/sms/", sms).status_code == 200
    from capture.models import ApiKey

    key = ApiKey.issue("Partner", "partner")[1]
    assert api_post(client, key, load_json("api", "lead.json")).status_code in (200, 201)
    call_command("import_leads", str(PAYLOADS / "import" / "leads.csv"), "--no-progress",
                 stdout=StringIO())
    receive_email(GRACE_EMAIL, via="test")
    BlockRule.objects.create(kind=BlockRule.Kind.PHRASE, value="crypto offer")
    visitor.load()
    assert visitor.submit(first_name="Grace", email=EMAIL,
                          message="A crypto offer for you").status_code == 400
    return find_person(email=EMAIL)


def test_the_export_holds_every_lead_event_message_consent_and_score(grace, ops, client):
    assert len(grace.lead_ids) == 2  # the won form lead and the later SMS/API/import lead
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": "Grace@Navy.mil"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["person.json", "summary.html"]
    doc = json.loads(archive.read("person.json"))
    assert {lead["id"] for lead in doc["leads"]} == set(grace.lead_ids)
    channels = {i["channel"] for i in doc["capture_interaction"]}
    assert {"web_form", "sms", "api", "import", "email"} <= channels
    event_statuses = sorted(e["status"] for e in doc["inbound_events"])
    assert "rejected" in event_statuses  # the spam submission, which has no lead
    assert sum(1 for e in doc["inbound_events"] if e["channel"] == "web_form") == 2
    assert any(m["to_address"] == EMAIL for m in doc["followup_outboundmessage"])  # the ack
    consent = [c for c in doc["consent"] if c["given"]]
    assert consent and consent[0]["text"] == "I agree to be contacted about my request."
    assert len(doc["score_explanations"]) == 2
    summary = archive.read("summary.html").decode()
    assert "Quote for 40 seats please" in summary and "grace@navy.mil" in summary

    record = PrivacyRequest.objects.get(kind="export")
    assert record.requested_by == ops and sorted(record.lead_ids) == grace.lead_ids
    assert EMAIL not in json.dumps(record.identity_hashes)
    assert LeadAccess.objects.filter(action="exported", user=ops).count() == 2


def test_export_and_erase_are_for_sales_ops_only(grace, client):
    manager = UserFactory(username="max", is_staff=True)
    manager.user_permissions.set(Permission.objects.filter(content_type__app_label="capture",
                                                           codename__startswith="view_"))
    client.force_login(manager)
    for page in ("export", "erase"):
        response = client.post(f"/admin/capture/privacyrequest/{page}/", {"email": EMAIL,
                                                                          "confirm": "1"})
        assert response.status_code == 403
    assert not PrivacyRequest.objects.exists()
    assert Lead.objects.filter(email_key=EMAIL).count() == 2


def test_bad_input_is_a_form_error(ops, client, db):
    client.force_login(ops)
    for data, message in (({}, "Enter an email address or a phone number."),
                          ({"phone": "12"}, "This does not look like a phone number."),
                          ({"email": "nobody@example.com"},
                           "No lead or inbound event has this email")):
        response = client.post("/admin/capture/privacyrequest/export/", data)
        assert response.status_code == 200 and message in response.content.decode()


def test_a_reference_naming_the_person_is_refused_as_it_outlives_the_erasure(grace, ops,
                                                                            client):
    """'Request from grace@navy.mil' typed as the reference stayed in the privacy request's
    note after the erasure: her address was left in the database."""
    client.force_login(ops)
    lead_ids = ",".join(map(str, grace.lead_ids))
    for note in ("Request from Grace@Navy.mil", "called from (415) 555-2671"):
        response = client.post("/admin/capture/privacyrequest/erase/", {
            "email": EMAIL, "confirm": "1", "lead_ids": lead_ids, "note": note})
        assert response.status_code == 200
        assert "email address and phone number out of the" in response.content.decode()
    assert not PrivacyRequest.objects.exists()
    assert Lead.objects.filter(email_key=EMAIL).exists()


def test_a_person_whose_only_submission_was_rejected_can_still_export_it(ops, client,
                                                                        visitor):
    """Their rejected submission is kept for 30 days with everything they typed, and erasure
    scrubs it, but the export answered "No lead has this email" and gave them nothing."""
    BlockRule.objects.create(kind=BlockRule.Kind.PHRASE, value="crypto offer")
    visitor.load()
    assert visitor.submit(first_name="Grace", email=EMAIL,
                          message="Not a crypto offer, a real question").status_code == 400
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": EMAIL})
    assert response["Content-Type"] == "application/zip"
    doc = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("person.json"))
    assert doc["leads"] == [] and [e["status"] for e in doc["inbound_events"]] == ["rejected"]
    assert doc["inbound_events"][0]["payload"]["message"] == "Not a crypto offer, a real question"
    assert PrivacyRequest.objects.get(kind="export").lead_ids == []


def _tables_containing(tokens) -> dict[str, list[str]]:
    """Search every column of every table (text, JSON, binary alike) for the tokens."""
    found: dict[str, list[str]] = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (our own table names)
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("utf-8", errors="replace")
                    if not isinstance(value, str):
                        continue
                    for token in tokens:
                        if token.casefold() in value.casefold():
                            found.setdefault(token, []).append(f"{table}.{column}")
    return found


def test_erasure_previews_then_leaves_no_trace_anywhere(grace, ops, client):
    assert set(_tables_containing(TRACES)) == set(TRACES)  # the search does find her first
    others = Lead.objects.exclude(pk__in=grace.lead_ids).count()
    first_response = {lead.pk: (lead.created_at, lead.channel, lead.status)
                      for lead in grace.leads}
    adapters = dict(InboundEvent.objects.filter(lead_id__in=grace.lead_ids)
                    .values_list("pk", "channel"))
    erasure_counts_before = erasure_preview(grace)
    client.force_login(ops)
    preview = client.post("/admin/capture/privacyrequest/erase/", {"email": EMAIL})
    html = preview.content.decode()
    assert "What will be erased" in html and "Hopper" in html
    assert Lead.objects.filter(email_key=EMAIL).exists()  # a preview changes nothing
    lead_ids = ",".join(map(str, grace.lead_ids))
    done = client.post("/admin/capture/privacyrequest/erase/",
                       {"email": EMAIL, "confirm": "1", "lead_ids": lead_ids,
                        "note": "ticket 4711"})
    assert done.status_code == 302

    assert _tables_containing(TRACES) == {}
    # The leads stay as anonymous rows: counts, channels, statuses and times are unchanged.
    assert Lead.objects.exclude(pk__in=grace.lead_ids).count() == others
    for lead in Lead.objects.filter(pk__in=grace.lead_ids):
        assert (lead.created_at, lead.channel, lead.status) == first_response[lead.pk]
        assert lead.erased_at and lead.display_name == f"Erased lead #{lead.pk}"
    assert Lead.objects.filter(email_key="ada@analytical.example").exists()  # others stay
    # The raw events keep which adapter took them in (a choice column in all but name).
    assert dict(InboundEvent.objects.filter(pk__in=adapters).values_list("pk", "channel")) \
        == adapters
    record = PrivacyRequest.objects.get(kind="erasure")
    assert record.note == "ticket 4711" and record.counts["leads"] == 2
    assert record.counts == erasure_counts_before  # what the preview said would go
    assert set(record.identity_hashes) == {identity_hash("email", EMAIL),
                                           identity_hash("phone", PHONE)}
    hashes = set(Suppression.objects.filter(reason="erased").values_list("value_hash",
                                                                         flat=True))
    assert hashes == set(record.identity_hashes)


def test_an_erased_person_is_not_re_created_by_an_import_a_webhook_or_an_email(grace, ops,
                                                                                 client, tmp_path):
    erase_person(grace, ops)
    leads = Lead.objects.count()
    out = StringIO()
    # Her row changed (the same row again is "already imported": its event is still found).
    second = tmp_path / "leads.csv"
    second.write_text((PAYLOADS / "import" / "leads.csv").read_text().replace(
        "Wants a quote", "Wants a new quote"))
    call_command("import_leads", str(second), "--no-progress", "--source", "second-import",
                 stdout=out)
    assert "0 failed, 1 left out (people erased on request)" in out.getvalue()
    sms = {**load_json("twilio", "sms.json")["params"], "MessageSid": "SMother",
           "SmsSid": "SMother", "SmsMessageSid": "SMother"}
    assert twilio_post(client, "/inbound/twilio/sms/", sms).status_code == 200
    receive_email(GRACE_EMAIL.replace(b"grace-0002", b"grace-0003"), via="test")
    assert Lead.objects.count() == leads
    assert not Lead.objects.filter(email_key=EMAIL).exists()
    assert not Lead.objects.filter(phone=PHONE).exists()
    ignored = InboundEvent.objects.filter(reason__contains="erased on request")
    assert ignored.count() >= 2
    assert all(e.payload == {} and bytes(e.body) == b"" for e in ignored)
    assert "Grace" not in str(_tables_containing(["Grace"]))


def test_a_new_opt_in_through_the_form_brings_the_person_back(grace, ops, visitor):
    erase_person(grace, ops)
    visitor.load()
    visitor.submit(first_name="Grace", email=EMAIL)  # no consent ticked: still erased
    assert not Lead.objects.filter(email_key=EMAIL).exists()
    visitor.load()
    visitor.submit(first_name="Grace", email=EMAIL, consent="on")
    lead = Lead.objects.get(email_key=EMAIL)
    assert lead.has_consent and not lead.erased_at
    assert not Suppression.objects.filter(reason="erased", kind="email").exists()
    assert OutboundMessage.objects.filter(lead=lead, to_address=EMAIL).exists()  # the ack


def test_an_erased_persons_open_lead_is_not_chased_and_says_why(grace, ops, client):
    """Its status and deadline stay (the dashboards' figures do not move), but no warning or
    escalation runs for it, and the queue and lead page say there is nobody to answer."""
    from datetime import timedelta

    from django.utils import timezone

    from routing.selectors import leads_breaching, leads_past_warning

    lead = Lead.objects.filter(pk__in=grace.lead_ids).exclude(status=LeadStatus.WON).first()
    owner = UserFactory(username="rita")
    Lead.objects.filter(pk=lead.pk).update(owner=owner, first_response_at=None,
                                           respond_by=timezone.now() + timedelta(minutes=30))
    erase_person(grace, ops)
    later = timezone.now() + timedelta(hours=2)
    assert not leads_breaching(later).filter(pk=lead.pk).exists()
    assert not leads_past_warning(later).filter(pk=lead.pk).exists()
    client.force_login(owner)
    assert ">erased</span>" in client.get("/queue/").content.decode()
    page = client.get(f"/leads/{lead.pk}/").content.decode()
    assert "SLA: off, the person's data was erased" in page
    assert "data-respond-by" not in page  # no countdown beside it


def test_scheduled_messages_of_an_erased_person_are_cancelled(grace, ops):
    OutboundMessage.objects.create(lead_id=grace.lead_ids[-1], kind="sequence",
                                   to_address=EMAIL, subject="Hi Grace", body="Hello Grace")
    erase_person(grace, ops)
    message = OutboundMessage.objects.get(kind="sequence")
    assert message.status == "cancelled" and message.to_address == ""


def test_an_unsubscribed_address_is_hashed_and_erasure_keeps_only_the_hash(grace, ops):
    from followup.suppression import suppress

    assert suppress(kind="email", value="Grace@Navy.mil", reason="unsubscribed")
    row = Suppression.objects.get()
    assert row.value == EMAIL and row.value_hash == identity_hash("email", EMAIL)
    erase_person(grace, ops)
    row.refresh_from_db()
    assert (row.value, row.reason) == ("", "erased")
    assert not suppress(kind="email", value=EMAIL, reason="bounce")  # not written in clear



def test_an_erased_person_is_found_on_the_suppression_list_by_typing_their_email(grace, ops,
                                                                                  admin_client):
    erase_person(grace, ops)
    page = admin_client.get("/admin/followup/suppression/?q=Grace@Navy.mil").content.decode()
    assert "erased (" in page and "1 result" in page
    assert admin_client.get("/admin/followup/suppression/?q=someone@else.example"
                            ).content.decode().count("erased (") == 0


def test_an_erased_person_is_found_on_the_suppression_list_by_their_phone_as_written(
        grace, ops, admin_client):
    erase_person(grace, ops)
    for term in ("+14155552671", "(415) 555-2671", "+1 415-555-2671"):
        page = admin_client.get("/admin/followup/suppression/", {"q": term}).content.decode()
        assert "erased (" in page and "1 result" in page, term


def test_an_erasure_s_suppression_rows_cannot_be_deleted_or_edited_in_the_admin(
        grace, ops, admin_client):
    """Deleting them (the list's "Delete selected", with sales ops' delete permission) let
    the person be stored again by any channel, without the new opt-in that alone lifts it."""
    erase_person(grace, ops)
    erased = list(Suppression.objects.filter(reason=Suppression.Reason.ERASED))
    assert erased
    other = Suppression.objects.create(kind="email", value="bounced@example.com",
                                       reason=Suppression.Reason.BOUNCE)
    url = "/admin/followup/suppression/"
    picked = {"action": "delete_selected", "_selected_action": [o.pk for o in [*erased, other]]}
    page = admin_client.post(url, picked).content.decode()
    assert "only a new opt-in through a form lifts an erasure" in page
    admin_client.post(url, {**picked, "post": "yes"})
    assert Suppression.objects.filter(reason=Suppression.Reason.ERASED).count() == len(erased)
    row = erased[0]
    assert admin_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client.post(f"{url}{row.pk}/change/", {"kind": row.kind, "reason": "manual"})
    row.refresh_from_db()
    assert row.reason == Suppression.Reason.ERASED
    # Other rows are the staff's to remove, as before.
    admin_client.post(url, {"action": "delete_selected", "_selected_action": [other.pk],
                            "post": "yes"})
    assert not Suppression.objects.filter(pk=other.pk).exists()
    assert erased_identity(EMAIL, "")  # the intake still refuses them


def test_a_lead_less_event_with_the_phone_as_typed_is_erased_too(grace, ops):
    from capture.intake import store_inbound_event

    event, _ = store_inbound_event(channel="webhook", external_id="chat-77",
                                   payload={"visitor_phone": "(415) 555-2671", "text": "hi"},
                                   status=InboundEvent.Status.REJECTED, reason="no email")
    erase_person(grace, ops)
    event.refresh_from_db()
    assert event.payload == {} and event.external_id.startswith("erased:")
    assert "chat-77" not in event.external_id


def test_a_lead_merged_into_the_person_s_lead_is_exported_and_erased_with_it(client, ops):
    """Marie writes on Telegram (a lead with her name, no email or phone), fills in the form
    (another lead), then shares her phone on Telegram: the Telegram lead is merged into the
    form lead. Her erasure must reach the merged-away lead and its rows, and her Telegram
    account must not bring her back."""
    form_lead = receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678", "email": "marie@example.org"}, summary="Form"))
    telegram_post(client, load_json("telegram", "start.json"))
    merged = Lead.objects.exclude(pk=form_lead.lead.pk).get()
    telegram_post(client, load_json("telegram", "contact.json"))
    merged.refresh_from_db()
    assert merged.merged_into_id == form_lead.lead.pk and merged.last_name == "Curie"

    person = find_person(email="marie@example.org")
    assert sorted(person.lead_ids) == sorted([form_lead.lead.pk, merged.pk])
    assert person.accounts == {("telegram", "5566778899")}
    erase_person(person, ops)
    assert _tables_containing(["Curie", "marie@example.org", "33612345678"]) == {}

    leads = Lead.objects.count()
    again = load_json("telegram", "text.json")
    assert telegram_post(client, again).status_code == 200
    assert Lead.objects.count() == leads
    assert InboundEvent.objects.filter(reason__contains="erased on request").exists()
    assert "Curie" not in str(_tables_containing(["Curie"]))


def test_the_export_summary_names_the_person_s_platform_accounts(client, ops):
    """Marie wrote on Telegram before she filled in the form: her readable summary lists that
    account beside her email and phone, as person.json's identities do."""
    receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678", "email": "marie@example.org"}, summary="Form"))
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_post(client, load_json("telegram", "contact.json"))  # merged into the form lead
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/",
                           {"email": "marie@example.org"})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    doc = json.loads(archive.read("person.json"))
    assert [(a["platform"], a["account_id"]) for a in doc["identities"]["accounts"]] == [
        ("Telegram", "5566778899")]
    identities = archive.read("summary.html").decode().split("<h2>Identities</h2>")[1]
    identities = identities.split("<h2>")[0]
    assert "Telegram account" in identities and "5566778899" in identities


def test_an_opt_in_with_one_email_brings_back_only_that_email_and_the_accounts(client, ops,
                                                                              visitor):
    """Marie has two emails, a phone and a Telegram account, all erased together. Opting in
    again through the form with one email lifts that email and her Telegram account; her
    other email and her phone stay erased until she opts in with them too."""
    first = receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678", "email": "marie@example.org"}, summary="Form")).lead
    telegram_post(client, load_json("telegram", "start.json"))
    telegram_post(client, load_json("telegram", "contact.json"))  # merged into the form lead
    Lead.objects.filter(pk=first.pk).update(status=LeadStatus.WON)
    receive_lead(IntakeInput(channel="web_form", fields={
        "phone": "+33612345678", "email": "marie@sorbonne.example"}, summary="Form"))
    person = find_person(email="marie@example.org")
    assert person.emails == {"marie@example.org", "marie@sorbonne.example"}
    assert person.accounts == {("telegram", "5566778899")}
    erase_person(person, ops)

    visitor.load()
    visitor.submit(first_name="Marie", email="marie@example.org", consent="on")

    assert Lead.objects.filter(email_key="marie@example.org", erased_at=None).exists()
    assert not erased_identity("marie@example.org", "")
    assert not erased_identity("", "", account=("telegram", "5566778899"))
    assert erased_identity("marie@sorbonne.example", "")
    assert erased_identity("", "+33612345678")
    leads = Lead.objects.count()
    receive_email(b"From: Marie Curie <marie@sorbonne.example>\r\nTo: sales@example.com\r\n"
                  b"Subject: Hello again\r\nMessage-ID: <marie-0001@sorbonne.example>\r\n"
                  b"Date: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\nStill interested.\r\n",
                  via="test")
    assert Lead.objects.count() == leads  # the other address is still not taken in


LINKEDIN = "linkedin.com/in/amazing-admiral-1906"  # nothing of her name in it


@pytest.fixture
def grace_with_custom_values(visitor, quote_form, fields):
    """Grace through a form that asks for a LinkedIn profile, some background and a number
    of seats, all custom fields."""
    from capture.models import CustomField, FormCustomField

    linkedin = CustomField.objects.create(key="linkedin", label="LinkedIn", kind="short_text")
    FormCustomField.objects.create(form=quote_form, field=linkedin)
    FormCustomField.objects.create(form=quote_form, field=fields["notes"])
    FormCustomField.objects.create(form=quote_form, field=fields["seats"])
    visitor.load()
    response = visitor.submit(first_name="Grace", email=EMAIL, cf_linkedin=LINKEDIN,
                              cf_notes="Rear admiral at the dockyard", cf_seats="40")
    assert response.status_code == 302, response.content.decode()
    lead = Lead.objects.get(email_key=EMAIL)
    assert lead.custom_fields["linkedin"] == LINKEDIN
    return lead


def test_custom_field_values_leave_no_trace_after_erasure(grace_with_custom_values, ops, client):
    from routing.models import LeadAssessment

    typed = [LINKEDIN, "Rear admiral at the dockyard"]
    # A kept column (the explanation) that quotes a value is blanked as a name would be.
    LeadAssessment.objects.update_or_create(lead=grace_with_custom_values, defaults={
        "routing": {"reasons": [f"profile {LINKEDIN} looked at"]}})
    assert set(_tables_containing(typed)) == set(typed)  # the search finds them first
    erase_person(find_person(email=EMAIL), ops)

    lead = Lead.objects.get(pk=grace_with_custom_values.pk)
    assert lead.custom_fields == {}
    # Nowhere: not on the lead, its interactions, its raw events, its score explanation...
    assert _tables_containing(typed) == {}
    client.force_login(ops)
    assert LINKEDIN not in client.get(f"/leads/{lead.pk}/").content.decode()


def test_the_export_summary_shows_custom_answers_under_their_labels(grace_with_custom_values,
                                                                   ops, client):
    """The person reads "Background: Rear admiral at the dockyard", not a Python dict of our
    field keys."""
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": EMAIL})
    summary = zipfile.ZipFile(io.BytesIO(response.content)).read("summary.html").decode()
    leads = summary.split("<h2>Leads</h2>")[1].split("<h2>")[0]
    assert "<tr><th>Background</th><td>Rear admiral at the dockyard</td></tr>" in leads
    assert f"<tr><th>LinkedIn</th><td>{LINKEDIN}</td></tr>" in leads
    assert "<tr><th>Seats</th><td>40</td></tr>" in leads
    assert "custom_fields" not in leads and "&#x27;notes&#x27;" not in leads


def test_an_erased_persons_waiting_chat_is_closed_and_leaves_every_waiting_box(grace, ops,
                                                                                 admin_client):
    from django.utils import timezone

    from chat.models import ChatWidget, Conversation

    lead = Lead.objects.filter(pk__in=grace.lead_ids).exclude(status=LeadStatus.WON).get()
    widget = ChatWidget.objects.create(name="Site chat", allowed_origins="https://example.com")
    chat = Conversation.objects.create(widget=widget, lead=lead,
                                       waiting_since=timezone.now(), page_url="/pricing")
    assert f"/leads/{lead.pk}/" in admin_client.get("/chat/waiting/").content.decode()

    erase_person(grace, ops)

    chat.refresh_from_db()
    assert chat.status == Conversation.Status.CLOSED and chat.waiting_since is None
    assert f"/leads/{lead.pk}/" not in admin_client.get("/chat/waiting/").content.decode()
    assert "Visitor waiting" not in admin_client.get(f"/leads/{lead.pk}/").content.decode()


ZELDA = {"first_name": "Zelda", "last_name": "Quixotova", "email": "zelda@quixotova.example",
         "phone": "+44 20 7946 0958", "company": "Quixotova Ltd", "consent": True}
ZELDA_WORK, ZELDA_MOBILE = "z.quixotova@work.example", "+442079460999"


def test_an_email_and_phone_kept_only_on_the_timeline_are_erased_and_keep_the_person_out(
        ops, client):
    """Zelda's later calls gave a second email and a second phone: her lead kept its own and
    noted the others on its timeline only. After her erasure, an API call with the second
    email created "Zelda Quixotova" again, and her export did not list them."""
    from capture.models import ApiKey

    key = ApiKey.issue("Partner", "partner")[1]
    assert api_post(client, key, ZELDA).status_code == 201
    assert api_post(client, key, {**ZELDA, "email": ZELDA_WORK}).status_code == 200
    assert api_post(client, key, {**ZELDA, "phone": ZELDA_MOBILE}).status_code == 200
    lead = Lead.objects.get(email_key=ZELDA["email"])
    assert Lead.objects.count() == 1 and lead.phone == "+442079460958"

    client.force_login(ops)
    # Staff find her by the address she gave second, and the export lists what she gave.
    response = client.post("/admin/capture/privacyrequest/export/", {"email": ZELDA_WORK})
    doc = json.loads(zipfile.ZipFile(io.BytesIO(response.content)).read("person.json"))
    assert [row["id"] for row in doc["leads"]] == [lead.pk]
    assert doc["identities"]["emails"] == sorted([ZELDA["email"], ZELDA_WORK])
    assert doc["identities"]["phones"] == sorted(["+442079460958", ZELDA_MOBILE])

    done = client.post("/admin/capture/privacyrequest/erase/", {
        "email": ZELDA["email"], "confirm": "1", "lead_ids": str(lead.pk)})
    assert done.status_code == 302
    assert _tables_containing([ZELDA_WORK, ZELDA_MOBILE, "Quixotova"]) == {}

    client.logout()
    for later in ({**ZELDA, "email": ZELDA_WORK, "phone": ""},
                  {**ZELDA, "email": "", "phone": ZELDA_MOBILE}):
        response = api_post(client, key, later)
        assert response.status_code == 200 and response.json()["status"] == "ignored"
    assert Lead.objects.count() == 1 and not Lead.objects.filter(erased_at=None).exists()
    assert erased_identity(ZELDA_WORK, "") and erased_identity("", ZELDA_MOBILE)


def test_only_a_form_opt_in_with_the_second_email_brings_it_back(ops, client, visitor):
    from capture.models import ApiKey

    key = ApiKey.issue("Partner", "partner")[1]
    assert api_post(client, key, ZELDA).status_code == 201
    assert api_post(client, key, {**ZELDA, "email": ZELDA_WORK}).status_code == 200
    erase_person(find_person(email=ZELDA["email"]), ops)
    visitor.load()
    visitor.submit(first_name="Zelda", email=ZELDA_WORK)  # no consent ticked: still erased
    assert not Lead.objects.filter(erased_at=None).exists()
    visitor.load()
    visitor.submit(first_name="Zelda", email=ZELDA_WORK, consent="on")
    assert Lead.objects.get(erased_at=None).email_key == ZELDA_WORK
    assert erased_identity(ZELDA["email"], "")  # the other address stays erased


def test_the_export_summary_reads_as_labels_and_values_not_python_dicts(
        grace_with_custom_values, ops, client):
    """A form lead with custom answers, an API lead and a Calendly booking: the person reads
    "UTM source: partner" and "Payload, tracking, UTM source: newsletter", not our column
    names or `{'email': ...}`; person.json keeps the columns and payloads as stored."""
    from capture.models import ApiKey
    from capture.privacy import PATH
    from tests.capture.test_calendly import calendly_post

    Lead.objects.filter(pk=grace_with_custom_values.pk).update(status=LeadStatus.WON)
    key = ApiKey.issue("Partner", "partner")[1]
    assert api_post(client, key, load_json("api", "lead.json")).status_code in (200, 201)
    assert calendly_post(client, load_json("calendly", "invitee_created.json")).status_code == 200
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": EMAIL})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    summary = archive.read("summary.html").decode()
    assert "{&#x27;" not in summary and "{'" not in summary

    leads = summary.split("<h2>Leads</h2>")[1].split("<h2>")[0]
    assert "<tr><th>Email</th><td>grace@navy.mil</td></tr>" in leads
    assert "<tr><th>UTM source</th><td>partner</td></tr>" in leads
    assert "<tr><th>Channel</th><td>API</td></tr>" in leads
    assert "<tr><th>Channel</th><td>Web form</td></tr>" in leads
    assert "<tr><th>Consent given</th><td>" in leads
    assert "<tr><th>Background</th><td>Rear admiral at the dockyard</td></tr>" in leads
    for column in ("email_key", "utm_source", "has_consent", "staff_set_fields", "owner_id"):
        assert f"<th>{column}</th>" not in leads

    events = summary.split("<h2>Raw inbound events</h2>")[1].split("<h2>")[0]
    assert "through Web form" in events and "through API" in events
    assert "through Calendly" in events
    assert f"<tr><th>LinkedIn</th><td>{LINKEDIN}</td></tr>" in events  # posted as cf_linkedin
    assert f"<tr><th>Record{PATH}UTM source</th><td>partner</td></tr>" in events
    assert "csrfmiddlewaretoken" not in events.casefold()
    assert f"<tr><th>Payload{PATH}tracking{PATH}UTM source</th><td>newsletter</td></tr>" in events
    answer = PATH.join(("Payload", "questions and answers", "1", "answer"))
    assert f"<tr><th>{answer}</th><td>About 40 seats</td></tr>" in events

    # What it contains, the timeline and the messages read as words, not our table and
    # column values ("capture_interaction", "web_form", "scheduled").
    contents = summary.split("<h2>What it contains</h2>")[1].split("<h2>")[0]
    assert "<th>Interactions</th>" in contents and "<th>Raw inbound events</th>" in contents
    assert "capture_" not in contents and "followup_" not in contents
    timeline = summary.split("<h2>Timeline</h2>")[1].split("<h2>")[0]
    assert "<td>Web form</td>" in timeline and "web_form" not in timeline
    messages = summary.split("<h2>Messages we sent or scheduled</h2>")[1].split("<h2>")[0]
    from followup.models import OutboundMessage

    sent = OutboundMessage.objects.filter(lead__email=EMAIL).first()
    assert sent is not None and f"<td>{sent.get_status_display()}</td>" in messages

    doc = json.loads(archive.read("person.json"))
    stored = {e.pk: e.payload for e in InboundEvent.objects.all()}
    assert {e["id"]: e["payload"] for e in doc["inbound_events"]} == stored
    assert {"email_key", "utm_source", "has_consent"} <= set(doc["leads"][0])
    assert doc["leads"][0]["email_key"] == EMAIL


def test_a_payload_value_is_escaped_in_the_summary(ops, client, visitor):
    visitor.submit(first_name="Grace", email=EMAIL, message="<script>alert(1)</script>")
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": EMAIL})
    summary = zipfile.ZipFile(io.BytesIO(response.content)).read("summary.html").decode()
    assert "<script>" not in summary
    assert "<tr><th>Message</th><td>&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>" in summary


JANE_EMAIL, JANE_PHONE = "jane@example.com", "+442079460958"
# Her address and her number as E.164, as digits and as the rep wrote it.
JANE_TRACES = (JANE_EMAIL, JANE_PHONE, "2079460958", "20 7946 0958")
CHAT_TEXT = "Hi, my email is Jane@Example.com, call me"


@pytest.fixture
def jane_mentioned(visitor):
    """Jane's own lead from the form; an anonymous chat visitor who types her address into a
    message (not into the contact form); Ravi's form lead, whose message and rep's note give
    her number written with spaces; a webhook that failed, its raw body (not all UTF-8) the
    only copy of her number. Returns Jane's lead, the chat, its lead, Ravi's and the webhook."""
    from capture.intake import store_inbound_event
    from chat.models import ChatWidget
    from routing.actions import add_note
    from tests.chat.conftest import SITE, Visitor

    jane = receive_lead(IntakeInput(channel="web_form", fields={
        "first_name": "Jane", "email": JANE_EMAIL, "phone": JANE_PHONE}, summary="Form")).lead
    chat = Visitor(ChatWidget.objects.create(name="Site chat", allowed_origins=SITE))
    assert chat.say(CHAT_TEXT).status_code == 201
    chatter = Lead.objects.get(channel="chat")
    assert chatter.email == "" and chatter.message == CHAT_TEXT
    visitor.submit(first_name="Ravi", email="ravi@example.org", consent="on",
                   message="Colleague of Jane (+44 20 7946 0958) asked us to call")
    ravi = Lead.objects.get(email_key="ravi@example.org")
    add_note(lead=ravi, user=UserFactory(username="rita"),
             body="Jane is on 020 7946 0958 after 5")
    hook, _ = store_inbound_event(channel="webhook", external_id="hook-9", reason="unreadable",
                                  body=b'{"text": "Jane: 020 7946 0958", "sig": "\xff"}',
                                  status=InboundEvent.Status.FAILED)
    return jane, chat, chatter, ravi, hook


def test_erasure_cuts_her_address_and_number_out_of_other_peoples_chats_and_notes(
        jane_mentioned, ops, client):
    """A reviewer erased jane@example.com, scanned the database and still found it: an
    anonymous visitor had typed it into a chat, and a rep had noted her number on a
    colleague's lead. Only those words go; the rest of each text and the leads stay."""
    from capture.privacy import MENTIONS

    jane, chat, chatter, ravi, hook = jane_mentioned
    assert set(_tables_containing(JANE_TRACES)) == set(JANE_TRACES)  # the scan finds them first
    client.force_login(ops)
    response = client.post("/admin/capture/privacyrequest/export/", {"email": JANE_EMAIL})
    exported = zipfile.ZipFile(io.BytesIO(response.content)).read("person.json").decode()
    # Other people's conversations are theirs: not part of her data.
    assert [lead["id"] for lead in json.loads(exported)["leads"]] == [jane.pk]
    assert "call me" not in exported and "Colleague" not in exported
    # The chat's lead, message and raw event; Ravi's lead, submission, raw event, note and
    # the acknowledgement that quoted his message; the webhook.
    preview = client.post("/admin/capture/privacyrequest/erase/", {"email": JANE_EMAIL})
    assert "Mentions on other records: 9" in preview.content.decode()

    done = client.post("/admin/capture/privacyrequest/erase/", {
        "email": JANE_EMAIL, "confirm": "1", "lead_ids": str(jane.pk)}, follow=True)
    assert "9 mention(s) on other records cut" in done.content.decode()
    assert _tables_containing(JANE_TRACES) == {}

    said = "Hi, my email is [erased], call me"
    assert [m["text"] for m in chat.poll().json()["messages"]] == [said]
    chatter.refresh_from_db()
    assert chatter.message == said and chatter.erased_at is None
    assert chatter.interactions.get(kind="message").summary == f"Chat: {said}"
    assert InboundEvent.objects.get(lead=chatter).payload["text"] == said
    ravi.refresh_from_db()
    assert ravi.message == "Colleague of Jane ([erased]) asked us to call"
    assert ravi.erased_at is None and ravi.email == "ravi@example.org"
    assert ravi.interactions.get(kind="note").body == "Jane is on [erased] after 5"
    assert "Colleague of Jane ([erased]) asked us to call" in OutboundMessage.objects.get(
        lead=ravi).body
    event = InboundEvent.objects.get(lead=ravi)
    assert event.payload["message"] == "Colleague of Jane ([erased]) asked us to call"
    # The form-encoded raw copy could not be cut in place ("%2B44+20+7946+0958"): it went.
    assert bytes(event.body) == b""
    hook.refresh_from_db()
    assert bytes(hook.body) == b'{"text": "Jane: [erased]", "sig": "\xff"}'
    record = PrivacyRequest.objects.get(kind="erasure")
    assert record.lead_ids == [jane.pk] and record.counts[MENTIONS] == 9
    assert set(Lead.objects.filter(erased_at__isnull=False).values_list("pk", flat=True)) \
        == {jane.pk}


def test_only_her_own_address_and_number_are_cut_not_ones_that_look_alike(jane_mentioned, ops):
    from routing.actions import add_note

    ravi = jane_mentioned[3]
    alike = ("Ask xjane@example.com, jane@example.community or a.jane@example.com; order "
             "2079460958123, the US office +1 207 946 0958, extension 7946 0958")
    note = add_note(lead=ravi, user=UserFactory(username="rita"), body=alike)
    erase_person(find_person(email=JANE_EMAIL), ops)
    note.refresh_from_db()
    assert note.body == alike


def test_her_number_is_recognised_however_it_is_commonly_written():
    from capture.privacy import Mentions, Person

    mentions = Mentions.of(Person(emails={JANE_EMAIL}, phones={JANE_PHONE, "+14155552671"}))
    for written in ("+442079460958", "+44 20 7946 0958", "+44 (0)20 7946 0958",
                    "0044 20 7946 0958", "020 7946 0958", "020-7946-0958", "2079460958",
                    "(415) 555-2671", "+1 415-555-2671", "415.555.2671", "1 415 555 2671"):
        assert mentions.redact(f"call {written}, ok") == "call [erased], ok", written
    assert mentions.redact({"visitor": {"phone": 4155552671, "note": "JANE@example.COM."}}) \
        == {"visitor": {"phone": "[erased]", "note": "[erased]."}}
