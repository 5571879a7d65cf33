"""Email to lead: .eml/mbox ingestion, django-anymail's inbound webhook, the IMAP poller."""

from __future__ import annotations

import hashlib
import hmac
import time
from io import StringIO

import pytest
from django.core.management import call_command

from capture.channels.email import poll_imap, receive_email, reply_address
from capture.intake import IntakeInput, receive_lead
from capture.models import InboundEvent, Interaction, Lead
from tests.capture.conftest import PAYLOADS, load_bytes
from tests.capture.imap_stub import ImapStub, Mailbox

pytestmark = pytest.mark.django_db


def eml(name: str) -> bytes:
    raw = load_bytes("email", name)
    assert raw.startswith(b"X-Fixture-Source: "), "each fixture says where its shape is from"
    return raw


def test_an_email_becomes_a_lead_with_the_sender_and_a_trimmed_body():
    event, created = receive_email(eml("new_lead.eml"), via="test")
    assert created and event.status == "processed" and event.created_lead
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.email, lead.channel) == (
        "Ada", "Lovelace", "Ada@Analytical.example", "email")
    interaction = lead.interactions.get()
    assert interaction.summary == "Email: Quote for managed IT, 40 seats"
    assert "quote managed IT" in interaction.body.replace("\n", " ")
    assert "Analytical Engines Ltd |" not in interaction.body  # the signature is trimmed
    assert interaction.message_id == "CAF=ada-0001@mail.analytical.example"


def test_the_same_message_id_twice_is_one_lead_and_one_interaction():
    receive_email(eml("new_lead.eml"), via="test")
    _, created = receive_email(eml("new_lead.eml"), via="imap")
    assert not created
    assert Lead.objects.get().interactions.count() == 1


def test_an_email_from_a_web_form_lead_lands_on_their_lead(visitor):
    visitor.submit(first_name="Ada", email="ada@analytical.example")
    receive_email(eml("new_lead.eml"), via="test")
    lead = Lead.objects.get()
    assert set(lead.interactions.values_list("channel", flat=True)) == {"web_form", "email"}


def test_a_reply_to_our_email_attaches_to_that_lead_even_from_another_address():
    lead = receive_lead(IntakeInput(channel="web_form", fields={"email": "ada@analytical.example"},
                                    summary="Form", notify_prospect=False)).lead
    Interaction.objects.create(lead=lead, direction="outbound", kind="email", channel="email",
                               summary="Acknowledgement", message_id="outbound-1@leadcrm.example")
    event, _ = receive_email(eml("reply.eml"), via="test")
    assert event.lead_id == lead.pk and Lead.objects.count() == 1
    reply = lead.interactions.get(kind="email", direction="inbound")
    assert reply.summary == "Replied: Re: We received your request"
    # The quote is trimmed; the other address is said, not put on the lead.
    assert reply.body == ("Yes, Thursday at 10 works for me.\nAlso gave the email "
                          "ada.personal@gmail.example (this lead keeps its own)")
    lead.refresh_from_db()
    assert lead.email == "ada@analytical.example"


def test_a_reply_to_a_signed_plus_address_attaches_to_that_lead(settings):
    settings.DEFAULT_FROM_EMAIL = "Sales <sales@example.com>"
    lead = receive_lead(IntakeInput(channel="call", fields={"phone": "+14155552671"},
                                    summary="Call", notify_prospect=False)).lead
    address = reply_address(lead.pk)
    assert address.startswith("sales+lead-") and address.endswith("@example.com")
    raw = (f"From: Someone <someone@else.example>\r\nTo: {address}\r\n"
           "Subject: Re: your call\r\nMessage-ID: <plus-1@else.example>\r\n\r\nCall me.\r\n")
    receive_email(raw.encode(), via="test")
    assert Lead.objects.count() == 1
    assert Lead.objects.get().email == "someone@else.example"  # filled from the reply
    forged = raw.replace(address, f"sales+lead-{lead.pk}-forged@example.com").replace(
        "plus-1", "plus-2").replace("someone@else", "stranger@else")
    receive_email(forged.encode(), via="test")
    assert Lead.objects.count() == 2  # an unsigned plus-address is just a new sender


@pytest.mark.parametrize(("name", "reason"), [
    ("out_of_office.eml", "auto-reply (Auto-Submitted: auto-replied)"),
    ("bounce.eml", "bounce or delivery report"),
    ("mailing_list.eml", "mailing list (Weekly Digest <digest.news.example>)"),
])
def test_auto_replies_bounces_and_lists_are_kept_as_ignored_not_leads(name, reason):
    event, _ = receive_email(eml(name), via="test")
    assert (event.status, event.reason) == ("ignored", reason)
    assert not Lead.objects.exists()


def test_mail_from_our_own_addresses_is_ignored():
    raw = (b"From: Sales <Sales@Example.com>\r\nTo: sales@example.com\r\nSubject: fwd\r\n"
           b"Message-ID: <own-1@example.com>\r\n\r\nhello\r\n")
    event, _ = receive_email(raw, via="test")
    assert event.status == "ignored" and event.reason == "our own address Sales@Example.com"


def test_html_only_mail_is_read_as_text():
    receive_email(eml("html_only.eml"), via="test")
    lead = Lead.objects.get()
    assert lead.first_name == "Renée"
    body = lead.interactions.get().body
    assert "Nous voudrions un **devis** pour 12 postes." in body and "<p>" not in body


def test_a_processing_failure_stays_failed_and_is_reprocessed(monkeypatch, admin_client):
    import capture.intake as intake

    monkeypatch.setattr(intake, "receive_lead", lambda *a, **k: 1 / 0)
    event, _ = receive_email(eml("new_lead.eml"), via="test")
    assert InboundEvent.objects.get().status == "failed"
    monkeypatch.undo()
    admin_client.post("/admin/capture/inboundevent/",
                      {"action": "reprocess", "_selected_action": [event.pk]})
    assert Lead.objects.get().email == "Ada@Analytical.example"


def test_ingest_email_reads_eml_files_and_mbox_archives_and_reruns_add_nothing():
    files = [str(PAYLOADS / "email" / "archive.mbox"), str(PAYLOADS / "email" / "reply.eml")]
    out = StringIO()
    call_command("ingest_email", *files, "--no-progress", stdout=out)
    assert out.getvalue().strip() == "4 message(s): 1 ignored, 3 new lead(s)"
    assert Lead.objects.count() == 3
    again = StringIO()
    call_command("ingest_email", *files, "--no-progress", stdout=again)
    assert again.getvalue().strip() == "4 message(s): 4 already stored"
    assert Lead.objects.count() == 3


def test_ingest_email_reads_an_mbox_one_message_at_a_time(tmp_path, monkeypatch):
    """A Google Takeout archive can be many gigabytes: memory stays near one message."""
    import tracemalloc
    from types import SimpleNamespace

    import capture.management.commands.ingest_email as command

    attachment = b"QUJD" * 19 + b"\n"  # a base64 line
    path = tmp_path / "takeout.mbox"
    with path.open("wb") as handle:
        for i in range(100):
            handle.write(b"From sender@example.com Thu Jan  1 00:00:00 2026\n"
                         b"Message-ID: <m%d@example.com>\nSubject: Quote %d\n\n" % (i, i)
                         + attachment * 2500 + b"\n")  # 200 KB a message, 20 MB in all
    seen = []

    def receive(raw, *, via):
        seen.append(len(raw))
        return SimpleNamespace(status="processed", created_lead=True,
                               Status=InboundEvent.Status), True

    monkeypatch.setattr(command, "receive_email", receive)
    out = StringIO()
    tracemalloc.start()
    try:
        call_command("ingest_email", str(path), "--no-progress", stdout=out)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.getvalue().strip() == "100 message(s): 100 new lead(s)"
    assert len(seen) == 100 and min(seen) > 190_000
    assert peak < 5_000_000, peak


def test_ingest_email_refuses_a_missing_file():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_email", "/nonexistent.eml")


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"


@pytest.mark.parametrize(("name", "content"), [
    ("logo.png", PNG),
    ("empty.eml", b""),
    ("note.txt", b"Hello,\nplease send me a quote for 40 seats.\nJose\n"),
    # Starts as an mbox archive does, and is none.
    ("memo.txt", b"From the desk of Jose Munoz\nPlease quote 40 seats.\n"),
])
def test_ingest_email_of_a_file_that_is_no_email_exits_non_zero_saying_so(
        tmp_path, name, content):
    # It said "1 message(s): 1 ignored" and exited 0: a script or a person took it as done.
    from django.core.management.base import CommandError

    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(CommandError) as refused:
        call_command("ingest_email", str(path), "--no-progress")
    # manage.py prints the message to stderr and exits with this status (run_from_argv; not
    # called here, as it closes the database connection the test runs in).
    assert refused.value.returncode != 0
    assert f"{path}: not an email" in str(refused.value)
    assert "Nothing was taken in." in str(refused.value)
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


def test_ingest_email_takes_nothing_in_when_one_of_its_files_is_no_email(tmp_path):
    from django.core.management.base import CommandError

    picture = tmp_path / "logo.png"
    picture.write_bytes(PNG)
    with pytest.raises(CommandError, match=r"logo\.png: not an email"):
        call_command("ingest_email", str(PAYLOADS / "email" / "new_lead.eml"), str(picture),
                     "--no-progress")
    assert not InboundEvent.objects.exists()
    out = StringIO()
    call_command("ingest_email", str(PAYLOADS / "email" / "new_lead.eml"), "--no-progress",
                 stdout=out)
    assert out.getvalue().strip() == "1 message(s): 1 new lead(s)"


# --- django-anymail inbound (Mailgun's signed raw-MIME forward) ------------------------------

MAILGUN_KEY = "key-mailgun-signing"


@pytest.fixture
def anymail_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp:hook-password",
                        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY}


def mailgun_post(client, raw: bytes, *, key: str = MAILGUN_KEY, auth: str = "esp:hook-password"):
    import base64

    timestamp, token = str(int(time.time())), "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    credentials = base64.b64encode(auth.encode()).decode()
    return client.post("/inbound/email/mailgun/inbound_mime/", {
        "body-mime": raw.decode(), "timestamp": timestamp, "token": token,
        "signature": signature, "recipient": "sales@example.com",
        "sender": "ada@analytical.example"},
        HTTP_AUTHORIZATION=f"Basic {credentials}")


def test_mailgun_inbound_through_anymail_makes_the_lead(client, anymail_settings):
    response = mailgun_post(client, eml("new_lead.eml"))
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.payload["via"] == "anymail:Mailgun"
    assert Lead.objects.get().email == "Ada@Analytical.example"
    assert mailgun_post(client, eml("new_lead.eml")).status_code == 200  # Mailgun retries
    assert Lead.objects.get().interactions.count() == 1


def test_anymail_refuses_a_bad_signature_or_basic_auth_as_json(client, anymail_settings):
    bad_signature = mailgun_post(client, eml("new_lead.eml"), key="wrong")
    assert bad_signature.status_code == 400 and "signature" in bad_signature.json()["error"]
    assert mailgun_post(client, eml("new_lead.eml"), auth="esp:guess").status_code == 400
    assert not InboundEvent.objects.exists()


def test_an_esp_not_configured_is_a_403_not_a_500(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp:hook-password"}  # no Mailgun signing key
    response = mailgun_post(client, eml("new_lead.eml"))
    assert response.status_code == 403 and "not configured" in response.json()["error"]
    settings.ANYMAIL = {}  # no basic auth: nothing is accepted unauthenticated
    response = mailgun_post(client, eml("new_lead.eml"))
    assert response.status_code == 403 and "ANYMAIL_WEBHOOK_SECRET" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def test_switched_off_email_answers_404_and_the_poller_leaves_the_mail_unseen(
        client, anymail_settings, mailbox):
    from capture.models import ChannelSettings

    ChannelSettings.objects.create(channel="email", is_active=False)
    response = mailgun_post(client, eml("new_lead.eml"))
    assert response.status_code == 404
    assert response.json() == {"error": "This channel is switched off."}
    mailbox.add(eml("new_lead.eml"))
    assert poll_imap() == 0
    assert not InboundEvent.objects.exists() and not mailbox.messages[0].seen
    ChannelSettings.objects.filter(channel="email").update(is_active=True)
    assert poll_imap() == 1 and Lead.objects.count() == 1


def test_postmark_inbound_json_through_anymail_makes_the_lead(client, anymail_settings):
    import base64
    import json

    from tests.capture.conftest import load_json

    payload = json.dumps(load_json("email", "postmark_inbound.json"))
    auth = "Basic " + base64.b64encode(b"esp:hook-password").decode()
    response = client.post("/inbound/email/postmark/inbound/", payload,
                           content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.external_id == "CAGrace-0001@mail.navy.mil"
    lead = Lead.objects.get()
    assert (lead.first_name, lead.email) == ("Grace", "grace@navy.mil")
    assert lead.interactions.get().summary == "Email: Cloud move for 40 people"
    unauthorised = client.post("/inbound/email/postmark/inbound/", payload,
                               content_type="application/json")
    assert unauthorised.status_code == 400


def ses_notification(raw: bytes) -> str:
    """What Amazon SNS posts for an SES receipt rule with an SNS action (BASE64 encoding):
    docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html, wrapped in
    SNS's HTTP notification (docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats)."""
    import base64
    import json

    topic = "arn:aws:sns:us-east-1:123456789012:ses-inbound"
    message = {"notificationType": "Received",
               "mail": {"timestamp": "2026-11-23T10:15:01.000Z", "source": "ada@analytical.example",
                        "messageId": "o3vrnil0e2ic28trm7dfhrc2v0clambda4nbp0g1",
                        "destination": ["sales@example.com"], "headersTruncated": False,
                        "headers": [], "commonHeaders": {"from": ["ada@analytical.example"]}},
               "receipt": {"recipients": ["sales@example.com"],
                           "action": {"type": "SNS", "topicArn": topic, "encoding": "BASE64"}},
               "content": base64.b64encode(raw).decode()}
    return json.dumps({"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                       "TopicArn": topic, "Subject": "Amazon SES Email Receipt Notification",
                       "Message": json.dumps(message), "Timestamp": "2026-11-23T10:15:01.000Z",
                       "SignatureVersion": "1", "Signature": "EXAMPLE",
                       "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem"})


def test_amazon_ses_inbound_through_anymail_makes_the_lead(client, anymail_settings):
    # Seen over HTTP: every Amazon SES post was a 403 "not configured on this server", as
    # anymail's SES webhook needs boto3 (the amazon-ses extra), which was not installed.
    import base64

    auth = "Basic " + base64.b64encode(b"esp:hook-password").decode()
    for _ in range(2):  # SNS retries a delivery it got no 2xx for
        response = client.post("/inbound/email/amazon_ses/inbound/",
                               ses_notification(eml("new_lead.eml")), content_type="text/plain",
                               HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
                               HTTP_X_AMZ_SNS_MESSAGE_ID="22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
                               HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200
    event = InboundEvent.objects.get()
    assert event.payload["via"] == "anymail:Amazon SES"
    assert Lead.objects.get().interactions.get().summary == "Email: Quote for managed IT, 40 seats"


@pytest.mark.parametrize(("body", "kind"), [
    # SNS's "raw message delivery" switched on: the mail itself, no SNS envelope
    (b"From: someone@example.com\r\nSubject: hi\r\n\r\nhello\r\n", "Notification"),
    (b'{"Type": "Other", "MessageId": "m-1"}', "Other"),  # a type SNS does not send
    (b'{"Type": "Notification", "MessageId": "m-1", "Message": "not json"}', "Notification"),
])
def test_an_unreadable_sns_post_is_a_json_400_not_a_500(client, anymail_settings, body, kind):
    # anymail raises its AnymailAPIError for these: the SNS post got a 500, and SNS retried
    # what could never be read.
    import base64

    response = client.post("/inbound/email/amazon_ses/inbound/", body, content_type="text/plain",
                           HTTP_X_AMZ_SNS_MESSAGE_TYPE=kind, HTTP_X_AMZ_SNS_MESSAGE_ID="m-1",
                           HTTP_AUTHORIZATION="Basic " + base64.b64encode(
                               b"esp:hook-password").decode())
    assert response.status_code == 400
    assert "SNS" in response.json()["error"]
    assert not InboundEvent.objects.exists()


def sns_subscription_confirmation(client):
    """Amazon SNS's first post to a new HTTPS subscription (docs.aws.amazon.com/sns, "HTTP/S:
    subscription confirmation JSON format"), as SES's receipt rule topic sends it."""
    import base64
    import json

    topic = "arn:aws:sns:us-east-1:123456789012:ses-inbound"
    body = json.dumps({
        "Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425a8a58", "TopicArn": topic,
        "Message": f"You have chosen to subscribe to the topic {topic}.",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": "2026-12-07T10:00:00.000Z", "SignatureVersion": "1",
        "Signature": "EXAMPLE", "SigningCertURL": "https://sns.us-east-1.amazonaws.com/c.pem"})
    return client.post("/inbound/email/amazon_ses/inbound/", body, content_type="text/plain",
                       HTTP_X_AMZ_SNS_MESSAGE_TYPE="SubscriptionConfirmation",
                       HTTP_X_AMZ_SNS_MESSAGE_ID="165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
                       HTTP_X_AMZ_SNS_TOPIC_ARN=topic,
                       HTTP_AUTHORIZATION="Basic " + base64.b64encode(
                           b"esp:hook-password").decode())


def test_an_sns_subscription_confirmation_without_aws_credentials_is_a_json_403_not_a_500(
        client, anymail_settings, monkeypatch, tmp_path):
    # anymail confirms the subscription through boto3, which needs AWS credentials: without
    # them the SNS post got a 500 (botocore's NoCredentialsError) and the subscription stayed
    # pending, so no SES mail ever arrived, with nothing saying why.
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    response = sns_subscription_confirmation(client)
    assert response.status_code == 403
    error = response.json()["error"]
    assert "AWS credentials" in error and "2336412f37fb687f5d51e6e2425a8a58" in error
    assert not InboundEvent.objects.exists()


def test_aws_out_of_reach_is_a_json_503_sns_retries(client, anymail_settings, monkeypatch):
    from anymail.webhooks.amazon_ses import AmazonSESInboundWebhookView
    from botocore.exceptions import EndpointConnectionError

    class Unreachable:
        def confirm_subscription(self, **kwargs):
            raise EndpointConnectionError(endpoint_url="https://sns.us-east-1.amazonaws.com/")

        def close(self):
            pass

    monkeypatch.setattr(AmazonSESInboundWebhookView, "get_boto_client",
                        lambda self, *args, **kwargs: Unreachable())
    response = sns_subscription_confirmation(client)
    assert response.status_code == 503 and response["Retry-After"]
    assert "Amazon" in response.json()["error"]


def test_postal_inbound_signed_with_its_key_through_anymail_makes_the_lead(client, settings):
    # docs/channels.md names ANYMAIL_POSTAL_WEBHOOK_KEY, but anymail checks Postal's RSA
    # signature with the cryptography package (its postal extra), which was not installed: a 403.
    import base64
    import json

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    settings.ANYMAIL = {"WEBHOOK_SECRET": "esp:hook-password", "POSTAL_WEBHOOK_KEY": "".join(
        public.decode().splitlines()[1:-1])}
    # Postal's inbound HTTP endpoint, "raw message" format (docs.postalserver.io).
    body = json.dumps({"id": 40, "rcpt_to": "sales@example.com",
                       "mail_from": "ada@analytical.example", "base64": True, "size": 1024,
                       "message": base64.b64encode(eml("new_lead.eml")).decode()}).encode()
    sha1 = hashes.SHA1()  # noqa: S303  (Postal signs with RSA-SHA1)
    signature = base64.b64encode(key.sign(body, padding.PKCS1v15(), sha1)).decode()
    auth = "Basic " + base64.b64encode(b"esp:hook-password").decode()
    response = client.post("/inbound/email/postal/inbound/", body,
                           content_type="application/json",
                           HTTP_X_POSTAL_SIGNATURE=signature, HTTP_AUTHORIZATION=auth)
    assert response.status_code == 200
    assert Lead.objects.get().interactions.get().summary == "Email: Quote for managed IT, 40 seats"


def postmark_post(client, payload: dict):
    import base64
    import json

    auth = "Basic " + base64.b64encode(b"esp:hook-password").decode()
    return client.post("/inbound/email/postmark/inbound/", json.dumps(payload),
                       content_type="application/json", HTTP_AUTHORIZATION=auth)


def test_an_html_only_mail_through_postmark_is_read_as_text(client, anymail_settings):
    """Postmark sends an empty TextBody; anymail makes it an empty text part, which used to
    hide the HTML: the lead's message and timeline were empty."""
    from tests.capture.conftest import load_json

    payload = load_json("email", "postmark_inbound.json")
    payload["TextBody"] = ""
    payload["HtmlBody"] = "<p>We need a <b>quote</b> for 40 laptops.</p>"
    assert postmark_post(client, payload).status_code == 200
    lead = Lead.objects.get()
    assert "We need a **quote** for 40 laptops." in lead.interactions.get().body
    assert "quote" in lead.message


def test_postmark_mail_without_a_message_id_is_keyed_by_postmark_s_id_and_retries_add_nothing(
        client, anymail_settings):
    from tests.capture.conftest import load_json

    payload = load_json("email", "postmark_inbound.json")
    payload["Headers"] = [h for h in payload["Headers"] if h["Name"] != "Message-ID"]
    for _ in range(2):  # Postmark retries a delivery it got no 200 for
        assert postmark_post(client, payload).status_code == 200
    event = InboundEvent.objects.get()
    assert event.external_id == "postmark:73e6d360-66eb-11e1-8e72-a8904824019b"
    assert Lead.objects.get().interactions.get().message_id == event.external_id


def test_mail_without_any_id_is_keyed_by_what_was_written_not_by_its_mime_bytes():
    from email.message import EmailMessage

    def rebuilt() -> bytes:  # as anymail rebuilds an ESP's JSON: a new MIME boundary each time
        message = EmailMessage()
        message["From"] = "Grace Hopper <grace@navy.mil>"
        message["To"] = "sales@example.com"
        message["Subject"] = "Cloud move for 40 people"
        message["Date"] = "Mon, 23 Nov 2026 15:00:00 +0000"
        message.set_content("Hello, could you quote the cloud move for 40 people?\n\nGrace\n")
        message.add_alternative("<p>Hello, could you quote the cloud move?</p>", subtype="html")
        return message.as_bytes()

    first, second = rebuilt(), rebuilt()
    assert first != second  # the boundaries differ
    receive_email(first, via="test")
    assert receive_email(second, via="test")[1] is False
    assert InboundEvent.objects.get().external_id.startswith("sha256:")
    assert Lead.objects.get().interactions.count() == 1


def test_mailgun_without_its_signature_fields_is_a_400_with_a_clean_message(
        client, anymail_settings):
    import base64

    credentials = base64.b64encode(b"esp:hook-password").decode()
    response = client.post("/inbound/email/mailgun/inbound_mime/", {
        "body-mime": eml("new_lead.eml").decode(), "recipient": "sales@example.com"},
        HTTP_AUTHORIZATION=f"Basic {credentials}")
    assert response.status_code == 400
    assert response.json() == {
        "error": "Mailgun webhook called without required security fields"}
    assert not InboundEvent.objects.exists()


# --- IMAP poller against a local IMAP server --------------------------------------------------

@pytest.fixture
def mailbox(settings):
    box = Mailbox()
    stub = ImapStub(box)
    settings.IMAP_HOST, settings.IMAP_PORT, settings.IMAP_SSL = "127.0.0.1", stub.port, False
    settings.IMAP_USER, settings.IMAP_PASSWORD = box.user, box.password
    settings.IMAP_FOLDER = "INBOX"
    yield box
    stub.close()


def test_the_poller_stores_unseen_mail_then_marks_it_seen(mailbox):
    mailbox.add(eml("new_lead.eml"))
    mailbox.add(eml("out_of_office.eml"))
    mailbox.add(eml("html_only.eml")).seen = True  # read by a person already: left alone
    assert poll_imap() == 2
    assert all(m.seen for m in mailbox.messages)
    assert Lead.objects.count() == 1
    assert InboundEvent.objects.filter(status="ignored").count() == 1
    assert any("BODY.PEEK[]" in c for c in mailbox.commands)
    assert poll_imap() == 0


def test_a_message_that_could_not_be_stored_stays_unseen_for_the_next_poll(mailbox,
                                                                            monkeypatch):
    import capture.channels.email as email_channel

    mailbox.add(eml("new_lead.eml"))
    mailbox.add(eml("html_only.eml"))
    real = email_channel.receive_email

    def store_only_the_first(raw, *, via):
        if b"html-0001" in raw:
            raise RuntimeError("database is down")
        return real(raw, via=via)

    monkeypatch.setattr(email_channel, "receive_email", store_only_the_first)
    with pytest.raises(RuntimeError):
        poll_imap()
    assert [m.seen for m in mailbox.messages] == [True, False]
    monkeypatch.undo()
    assert poll_imap() == 1
    assert Lead.objects.count() == 2


def test_the_poller_does_nothing_without_an_imap_host(settings):
    settings.IMAP_HOST = ""
    assert poll_imap() == 0


def test_the_poller_schedule_is_installed_on_migrate():
    from django_q.models import Schedule

    from capture.schedules import SCHEDULES, install

    install(SCHEDULES)
    assert Schedule.objects.get(name="capture: poll the IMAP mailbox").func == \
        "capture.channels.email.poll_imap"


def test_a_message_with_garbage_headers_is_kept_not_lost():
    raw = b"From: \xff\xfe<<<\r\nSubject: =?bogus?x?zz?=\r\nMessage-ID: <<>>\r\n\r\nhello\r\n"
    event, created = receive_email(raw, via="test")
    assert created and event.status in ("rejected", "failed")
    assert InboundEvent.objects.count() == 1 and not Lead.objects.exists()
    assert receive_email(raw, via="test")[1] is False  # the same bytes again: stored once


def test_a_message_over_the_upload_limit_is_a_json_413(client, anymail_settings, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    big = eml("new_lead.eml").replace(b"Hello,", b"Hello, " + b"x" * 5000)
    response = mailgun_post(client, big)
    assert response.status_code == 413 and "DATA_UPLOAD_MAX_MEMORY_SIZE" in \
        response.json()["error"]
    assert not InboundEvent.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain; charset=us-ascii"])
def test_utf_8_text_sent_8bit_without_its_charset_is_read_as_utf_8(content_type):
    """Many mailers send UTF-8 as 8bit and name no charset (or ASCII's): not U+FFFD."""
    raw = (b"From: Jana Schmidt <jana@firma.example>\r\nTo: sales@leadcrm.example\r\n"
           b"Subject: Angebot\r\nMessage-ID: <jana-8bit@firma.example>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: " + content_type.encode() + b"\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n"
           + "Wir möchten ein Angebot. €\r\n".encode())
    receive_email(raw, via="test")
    assert Lead.objects.get().interactions.get().body == "Wir möchten ein Angebot. €"


def test_a_declared_charset_still_decides_when_the_text_is_not_utf_8():
    raw = (b"From: jana@firma.example\r\nSubject: Angebot\r\nMessage-ID: <jana-l1@firma.example>"
           b"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Wir möchten ein Angebot.\r\n".encode(
               "latin-1"))
    receive_email(raw, via="test")
    assert Lead.objects.get().interactions.get().body == "Wir möchten ein Angebot."


def test_an_email_s_attachments_are_named_on_its_timeline_entry():
    receive_email(eml("with_attachments.eml"), via="test")
    lead = Lead.objects.get()
    body = lead.interactions.get().body
    assert body.startswith("Hello,\n\nAttached are our floor plan")
    assert body.endswith("(2 attachment(s): floor-plan.pdf, desks.png)")
    assert "attachment" not in lead.message  # the person's words only


def test_attachments_through_postmark_are_named_too(client, anymail_settings):
    import base64

    from tests.capture.conftest import load_json

    payload = load_json("email", "postmark_inbound.json")
    payload["Attachments"] = [
        {"Name": "requirements.pdf", "ContentType": "application/pdf", "ContentLength": 8,
         "ContentID": "", "Content": base64.b64encode(b"%PDF-1.4").decode()},
        # A picture inside the HTML (Postmark gives it a ContentID): no attachment to a reader.
        {"Name": "logo.png", "ContentType": "image/png", "ContentLength": 8,
         "ContentID": "logo.png@01CE7342.75E71F80",
         "Content": base64.b64encode(b"\x89PNG\r\n\x1a\n").decode()}]
    assert postmark_post(client, payload).status_code == 200
    body = Lead.objects.get().interactions.get().body
    assert body.endswith("(1 attachment(s): requirements.pdf)")


@pytest.mark.parametrize("path", ["/inbound/email/postmark/inbound/",
                                  "/inbound/email/mailgun/inbound_mime/",
                                  "/inbound/email/postmark/tracking/"])
def test_a_get_on_an_esp_webhook_is_a_json_405_as_on_every_channel(client, anymail_settings,
                                                                   path):
    response = client.get(path)
    assert response.status_code == 405 and response.json()["error"] == "Use POST."
    assert "POST" in response["Allow"]
    assert client.head(path).status_code == 200  # an ESP's check that the URL is there
