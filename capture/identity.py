"""Identity keys: how an email address and a phone number are read, so one person is one lead."""

from __future__ import annotations

import contextlib
import functools
import re
from email.utils import parseaddr

import phonenumbers
import pycountry
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Q


class InvalidPhone(ValueError):
    """The text cannot be read as a phone number (a human message in args[0])."""


def parse_email(raw: str) -> tuple[str, str]:
    """Split '"John Smith" <John@Example.COM>' into ('John Smith', 'John@Example.COM').

    Raises ValidationError with a human message when no valid address is found.
    """
    raw = (raw or "").strip()
    if not raw:
        return "", ""
    name, address = parseaddr(raw)
    if not address and "<" not in raw:
        address = raw
    address = address.strip()
    try:
        validate_email(address)
    except ValidationError:
        raise ValidationError(
            "Enter a valid email address, like name@company.com.", code="invalid"
        ) from None
    return name.strip(), address


def email_key(address: str) -> str:
    """The match key: the case-folded local part @ the IDNA (punycode) domain.

    Gmail dots and +tags are kept: folding them would merge different people on other domains.
    """
    address = (address or "").strip()
    if "@" not in address:
        return ""
    local, _, domain = address.rpartition("@")
    domain = domain.strip().rstrip(".").casefold()
    with contextlib.suppress(UnicodeError):  # else keep the case-folded form
        domain = domain.encode("idna").decode("ascii")
    return f"{local.casefold()}@{domain}"


def email_domain(address: str) -> str:
    key = email_key(address)
    return key.rpartition("@")[2] if key else ""


def region_problem(region: str) -> str:
    """Why `region` cannot read phone numbers without +country code ('' when it can or is
    empty): every local number would be refused with "Add the country code"."""
    region = (region or "").strip().upper()
    if not region or region in phonenumbers.SUPPORTED_REGIONS:
        return ""
    return (f"“{region}” is not a country code phone numbers know: use two letters such as GB, "
            "US or DE, or leave it empty.")


def normalise_phone(raw: str, region: str | None = None) -> str:
    """Return the number in E.164 ('+14155552671') or raise InvalidPhone.

    A number without +country code is read with `region` (the form's or the source's), then
    PHONE_DEFAULT_REGION; with no region at all it is an error, never a guess.
    """
    raw = (raw or "").strip()
    if not raw:
        return ""
    region = (region or settings.PHONE_DEFAULT_REGION or "").upper() or None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidPhone(
                "Add the country code, for example +44 20 7946 0958."
            ) from None
        raise InvalidPhone("This does not look like a phone number.") from None
    if not phonenumbers.is_possible_number(number) or not phonenumbers.is_valid_number(number):
        if region and not raw.startswith("+") and sum(c.isdigit() for c in raw) >= 7:
            # Likely a real number of another country (a London one on a form read in the
            # US): "does not look like a phone number" left its owner guessing.
            raise InvalidPhone(f"This is not a valid {region} phone number: from another "
                               "country, start with + and its country code, for example "
                               "+44 20 7946 0958.")
        raise InvalidPhone("This does not look like a phone number.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# A search term that is a phone number as people write one: "(415) 555-2671", "+44 20 7946 0958".
PHONE_TERM = re.compile(r"\+?[\d\s().\-/]*\d[\d\s().\-/]*")
MIN_PHONE_DIGITS = 4  # fewer finds every number that has them somewhere


def phone_search(term: str, field: str = "phone") -> Q | None:
    """What a search term that looks like a phone number finds in `field` (stored in E.164):
    the number read as the intake reads it (PHONE_DEFAULT_REGION without +country code), or
    any number with its digits in a row (a part of one: "555-2671"). None for other terms.

    The admin's lead search and the queue's both use it: spaces, brackets and dashes a
    person types are in no stored number."""
    term = (term or "").strip()
    if not PHONE_TERM.fullmatch(term):
        return None
    digits = re.sub(r"\D", "", term)
    if len(digits) < MIN_PHONE_DIGITS:
        return None
    wanted = Q(**{f"{field}__contains": digits})
    with contextlib.suppress(InvalidPhone):
        wanted |= Q(**{field: normalise_phone(term)})
    return wanted


# What prospects type that ISO 3166 has under another name.
COUNTRY_ALIASES = {
    "uk": "GB", "u.k.": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northern ireland": "GB", "great britain": "GB", "britain": "GB",
    "u.s.": "US", "u.s.a.": "US", "america": "US", "united states of america": "US",
    "russia": "RU", "turkey": "TR", "holland": "NL", "the netherlands": "NL",
    "ivory coast": "CI", "uae": "AE", "czech republic": "CZ", "deutschland": "DE",
}


@functools.lru_cache(maxsize=1024)
def country_code(typed: str) -> str:
    """The ISO 3166-1 code of a country as a prospect types it ("United Kingdom", "uk", "GBR"
    are all "GB"), so rules on country codes match; what cannot be read is kept as typed."""
    text = " ".join(typed.split())
    if not text:
        return ""
    if code := COUNTRY_ALIASES.get(text.lower()):
        return code
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return text


def is_country_code(code: str) -> bool:
    """An ISO 3166-1 alpha-2 code ("GB"), as country_code() gives for a real country."""
    return len(code) == 2 and code.isupper() and pycountry.countries.get(alpha_2=code) is not None


def phone_region(country: str, fallback: str = "") -> str:
    """The region a national phone number is read in: the person's own country when it names
    one ("United Kingdom" is GB), else `fallback` (a form's or a source's region);
    normalise_phone falls back to PHONE_DEFAULT_REGION after that."""
    code = country_code(country or "")
    return code if is_country_code(code) else fallback


def country_of_phone(e164: str) -> str:
    """The ISO country code of an E.164 number ("GB" for +44...), or "" when it has none
    (a non-geographic number) or cannot be read."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return ""
    return region if region and region != "001" else ""
