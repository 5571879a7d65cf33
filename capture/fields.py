"""The lead field names: one list shared by the public form, the JSON API, imports and webhooks."""

from django.core.exceptions import ValidationError
from django.db import models

from capture.identity import region_problem

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "company", "job_title")
QUALIFICATION_FIELDS = (
    "company_size",
    "industry",
    "country",
    "budget",
    "urgency",
    "service",
    "message",
)
ATTRIBUTION_FIELDS = (
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "gclid",
    "fbclid",
    "referrer",
    "landing_page",
)
ATTRIBUTION_LABELS = {
    "utm_source": "UTM source",
    "utm_medium": "UTM medium",
    "utm_campaign": "UTM campaign",
    "utm_term": "UTM term",
    "utm_content": "UTM content",
    "gclid": "Google Ads click ID (gclid)",
    "fbclid": "Facebook click ID (fbclid)",
    "referrer": "Referrer",
    "landing_page": "Landing page",
}
# Fields a visitor types; attribution is captured without the visitor seeing it.
FORM_FIELDS = CONTACT_FIELDS + QUALIFICATION_FIELDS
LEAD_FIELDS = FORM_FIELDS + ATTRIBUTION_FIELDS

# Fields whose answers come from a list the form owner edits (one choice per line).
CHOICE_FIELDS = ("company_size", "budget", "urgency", "service", "industry")

DEFAULT_CHOICES = {
    "company_size": ["1-10", "11-50", "51-200", "201-1000", "1001-5000", "5000+"],
    "budget": ["Under $10k", "$10k-$50k", "$50k-$200k", "$200k+", "Not sure yet"],
    "urgency": ["This week", "This month", "This quarter", "Just researching"],
    "service": [],
    "industry": [],
}


def answer_list(text: str) -> list[str]:
    """One answer per line, as sales ops list them: blank lines and exact repeats dropped."""
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines()
                              if line.strip()))


def answers_differing_in_case(answers: list[str]) -> str:
    """A refusal naming answers that differ only in capitals, or "": forms would offer both,
    while the API, imports and rules match answers ignoring case (one could never be kept)."""
    groups: dict[str, list[str]] = {}
    for answer in answers:
        groups.setdefault(answer.casefold(), []).append(answer)
    if repeated := [group for group in groups.values() if len(group) > 1]:
        named = "; ".join(" and ".join(f"“{a}”" for a in group) for group in repeated)
        return f"Answers must differ in more than capitals: {named}. Keep one of each."
    return ""


class LeadField(models.TextChoices):
    """The form-selectable lead fields with their labels (admin checkboxes, rules later)."""

    FIRST_NAME = "first_name", "First name"
    LAST_NAME = "last_name", "Last name"
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    COMPANY = "company", "Company"
    JOB_TITLE = "job_title", "Job title"
    COMPANY_SIZE = "company_size", "Company size"
    INDUSTRY = "industry", "Industry"
    COUNTRY = "country", "Country"
    BUDGET = "budget", "Budget range"
    URGENCY = "urgency", "When do you need it?"
    SERVICE = "service", "Service you are interested in"
    MESSAGE = "message", "Message"


MAX_LENGTHS = {
    "first_name": 100,
    "last_name": 100,
    "email": 254,
    "phone": 32,
    "company": 200,
    "job_title": 150,
    "company_size": 64,
    "industry": 100,
    "country": 64,
    "budget": 64,
    "urgency": 64,
    "service": 150,
    "message": 5000,
    "utm_source": 200,
    "utm_medium": 200,
    "utm_campaign": 200,
    "utm_term": 200,
    "utm_content": 200,
    "gclid": 255,
    "fbclid": 255,
    "referrer": 2000,
    "landing_page": 2000,
}


def validate_region(value: str) -> None:
    if problem := region_problem(value):
        raise ValidationError(problem, code="invalid_region")


class RegionField(models.CharField):
    """A two-letter region (GB, US) that reads phone numbers typed without +country code:
    stored upper-case, and refused unless phone numbers know it ("ZZ" would make every local
    number fail with "Add the country code")."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 2)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("validators", [validate_region])
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return value.strip().upper() if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        value = (getattr(model_instance, self.attname) or "").strip().upper()
        setattr(model_instance, self.attname, value)
        return value
