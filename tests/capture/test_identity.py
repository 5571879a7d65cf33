"""Identity keys, without a database: how one person is recognised across spellings."""

import pytest
from django.core.exceptions import ValidationError

from capture.identity import InvalidPhone, email_key, normalise_phone, parse_email


def test_email_key_folds_case_and_keeps_the_local_part():
    assert email_key("Grace.Hopper@Example.COM") == "grace.hopper@example.com"


def test_email_key_turns_an_international_domain_into_punycode():
    assert email_key("anna@bücher.de") == "anna@xn--bcher-kva.de"


def test_gmail_dots_and_tags_are_not_folded_into_one_person():
    assert email_key("a.b+x@gmail.com") != email_key("ab@gmail.com")


def test_a_display_name_style_address_is_split():
    assert parse_email('"John Smith" <J@x.co>') == ("John Smith", "J@x.co")


@pytest.mark.parametrize("raw", ["not an email", "a@", "@b.com", "<>", "x@y@z.com"])
def test_a_bad_email_gets_a_human_message(raw):
    with pytest.raises(ValidationError, match="valid email address"):
        parse_email(raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", None, "+14155552671"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+44 20 7946 0958", "US", "+442079460958"),
    ],
)
def test_phones_are_stored_in_e164(raw, region, expected, settings):
    settings.PHONE_DEFAULT_REGION = ""
    assert normalise_phone(raw, region) == expected


def test_a_local_number_without_any_region_is_an_error_not_a_guess(settings):
    settings.PHONE_DEFAULT_REGION = ""
    with pytest.raises(InvalidPhone, match="country code"):
        normalise_phone("415-555-2671", None)


@pytest.mark.parametrize("raw", ["12", "hello", "+1 000", "555-CALL-NOW-NOW-NOW"])
def test_text_that_cannot_be_a_phone_number_is_refused(raw):
    with pytest.raises(InvalidPhone):
        normalise_phone(raw, "US")
