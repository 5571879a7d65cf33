"""Custom lead fields sales ops define in the admin, and where each one sits on an intake form.

The values live in `Lead.custom_fields` (one JSON object keyed by the field's key), checked
against these definitions on every write; `capture.custom_fields` holds the rules for values.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.db import models

from capture.fields import LEAD_FIELDS, LeadField, answer_list, answers_differing_in_case

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,48}$")
# Names a custom key may not take: the built-in fields and the words the API, forms, rules
# and the queue's filters already use.
RESERVED_KEYS = frozenset({
    *LEAD_FIELDS, "consent", "consent_text", "id", "status", "owner", "tier", "score",
    "channel", "source", "form", "created", "created_at", "q", "tab", "page", "size",
    "fragment", "email_domain", "email_is_free_mail", "has_consent", "website", "started",
    "submission_id", "custom_fields", "message_id", "lead_id",
})


# Letters NFKD leaves whole, spelled out as static/js/custom_field_key.js does for the label.
SPELLED = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ł": "l",
                         "þ": "th"})


def suggested_key(typed: str) -> str:
    """A key close to what was typed ("tech stack" -> "tech_stack"), or "" when none is: the
    admin's key filling (static/js/custom_field_key.js) writes a label the same way."""
    text = unicodedata.normalize("NFKD", typed)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().translate(SPELLED)
    key = re.sub(r"[^a-z0-9]+", "_", text).lstrip("_")
    if key[:1].isdigit():
        key = f"f_{key}"
    key = key[:49].rstrip("_")
    return key if KEY_PATTERN.match(key) and key not in RESERVED_KEYS else ""


def key_format_error(typed: str) -> str:
    """What a key may hold, with a key close to the one typed when there is one."""
    message = ("A key may hold only lower case letters (a-z), digits and _, starting with a "
               "letter, at most 49 characters")
    suggestion = suggested_key(typed)
    if suggestion and suggestion != typed:
        return f"{message}: “{typed}” could be “{suggestion}”."
    return f"{message} (e.g. tech_stack)."


# The queue filters a number by `cf_<key>_min` and `cf_<key>_max` and a date by `cf_<key>_after`
# and `cf_<key>_before` (django-filter's RangeWidget and DateRangeWidget); a key may not take
# another field's name there, or one filter would read the other's input.
FILTER_SUFFIXES = {"number": ("min", "max"), "date": ("after", "before")}


def filter_names(key: str, kind: str) -> set[str]:
    """The names (without `cf_`) the queue's filter of this field reads from the address."""
    return {key, *(f"{key}_{suffix}" for suffix in FILTER_SUFFIXES.get(kind, ()))}


class CustomField(models.Model):
    """One field sales ops added to leads: "Tech stack", "Seats", "Contract end date"."""

    class Kind(models.TextChoices):
        SHORT_TEXT = "short_text", "Short text"
        LONG_TEXT = "long_text", "Long text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        YES_NO = "yes_no", "Yes / no"
        CHOICE = "choice", "One choice"
        MULTI_CHOICE = "multi_choice", "Several choices"

    CHOICE_KINDS = (Kind.CHOICE, Kind.MULTI_CHOICE)

    label = models.CharField(max_length=100, help_text="What people see: “Tech stack”.")
    # A CharField, not a SlugField: the key's one check is clean()'s (KEY_PATTERN), which says
    # what a key may hold; a slug's own check said it again, wrongly allowing hyphens.
    key = models.CharField(
        max_length=49, unique=True,
        help_text="The name the API, imports, webhooks and exports use: lower case letters, "
        "digits and _, starting with a letter, e.g. tech_stack. It cannot change once leads "
        "carry the field.",
    )
    kind = models.CharField("type", max_length=16, choices=Kind.choices,
                            default=Kind.SHORT_TEXT)
    choices = models.TextField(
        blank=True,
        help_text="For “One choice” and “Several choices”: one answer per line, in the order "
        "forms and filters list them.",
    )
    min_value = models.DecimalField(
        "lowest number", max_digits=19, decimal_places=4, null=True, blank=True,
        help_text="For “Number”: the lowest value forms, the API and imports accept "
        "(0 or 1 for seats). Empty: no limit. Values stored before stay as they are.")
    max_value = models.DecimalField(
        "highest number", max_digits=19, decimal_places=4, null=True, blank=True,
        help_text="For “Number”: the highest value accepted. Empty: no limit.")
    help_text = models.CharField(max_length=300, blank=True,
                                 help_text="Shown under the field on forms.")
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order on the lead page, in filters and in exports.")
    is_active = models.BooleanField(
        "active", default=True,
        help_text="Untick to archive: the field leaves forms, the API and filters; the leads "
        "keep their values and the lead page still shows them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "custom lead field"

    def __str__(self) -> str:
        return self.label if self.is_active else f"{self.label} (archived)"

    def save(self, *args, **kwargs) -> None:
        from capture.custom_fields import convert_values, forget_definitions

        old = CustomField.objects.filter(pk=self.pk).first() if self.pk else None
        super().save(*args, **kwargs)
        if old is not None and (old.kind, old.choice_list) != (self.kind, self.choice_list):
            self.conversion = convert_values(old, self)
        if old is None or old.kind != self.kind:
            from capture.custom_field_indexes import queue_index_update

            queue_index_update()
        forget_definitions()

    def why_not_deletable(self) -> str:
        """Why this field cannot be deleted now, or "" when it can."""
        from capture.custom_fields import DELETE_CHECKS

        if self.leads_carrying().exists():
            return (f"Leads carry values of “{self.label}”: archive the field instead of "
                    "deleting it (archiving keeps the data).")
        if users := [user for check in DELETE_CHECKS for user in check(self)]:
            return (f"Active rules use “{self.label}”: change or switch off "
                    f"{'; '.join(users)} first.")
        return ""

    def delete(self, *args, **kwargs):
        if reason := self.why_not_deletable():
            raise ValidationError(reason)
        from capture.custom_field_indexes import queue_index_update

        result = super().delete(*args, **kwargs)
        queue_index_update()
        return result

    @property
    def rule_name(self) -> str:
        """The field's name in scoring and routing rules (kept apart from built-in names)."""
        return f"cf_{self.key}"

    @property
    def choice_list(self) -> list[str]:
        return answer_list(self.choices)

    def leads_carrying(self) -> models.QuerySet:
        from capture.custom_fields import leads_with_key

        return leads_with_key(self.key)

    def clean_fields(self, exclude=None) -> None:
        """The key is checked by clean() alone (KEY_PATTERN, its length included), so a long
        one gets one message with a key close to it, not Django's max_length one besides."""
        super().clean_fields(exclude={*(exclude or ()), "key"})

    def clean(self) -> None:
        errors: dict[str, str] = {}
        self.key = (self.key or "").strip()
        stored = (CustomField.objects.filter(pk=self.pk).values_list("key", "kind").first()
                  if self.pk else None)
        # A stored key is left alone: it was accepted when saved (and once leads carry it the
        # admin shows it read-only, so an error on it could not even be shown there).
        new_key = stored is None or stored[0] != self.key
        if not self.key:
            errors["key"] = self._meta.get_field("key").error_messages["blank"]
        elif new_key and not KEY_PATTERN.match(self.key):
            errors["key"] = key_format_error(self.key)
        elif new_key and self.key in RESERVED_KEYS:
            errors["key"] = f"“{self.key}” is a built-in name; choose another key."
        elif clash := self._filter_name_clash(set() if new_key else filter_names(*stored)):
            errors["key" if new_key else "kind"] = clash
        if self.kind not in self.CHOICE_KINDS and self.choice_list:
            stored_answers = (CustomField.objects.filter(pk=self.pk)
                              .values_list("choices", flat=True).first() if self.pk else None)
            if stored_answers is not None and answer_list(stored_answers) == self.choice_list:
                self.choices = ""  # a choice field's old answers, left in the box on a new type
            else:  # kept, they were never used: the form showed a free-text box
                errors["choices"] = ("Answers are only offered by “One choice” and “Several "
                                     "choices”: choose one of those types, or empty this box.")
        if self.kind in self.CHOICE_KINDS and not self.choice_list:
            errors["choices"] = "List the answers, one per line."
        elif self.kind in self.CHOICE_KINDS and (
                repeated := answers_differing_in_case(self.choice_list)):
            errors["choices"] = repeated
        if self.kind != self.Kind.NUMBER:
            self.min_value = self.max_value = None  # limits only mean something for numbers
        elif None not in (self.min_value, self.max_value) and self.min_value > self.max_value:
            errors["max_value"] = "The highest number must not be below the lowest."
        if errors:
            raise ValidationError(errors)
        if self.pk:
            self._clean_change()

    def _filter_name_clash(self, kept: set[str]) -> str:
        """Why the queue's filters could not tell this field from another (archived ones too:
        restoring one is not checked), or "". Only names the field did not have (`kept`, from
        its stored key and type) are checked: fields saved before this check was made may
        share one, and keep it until their key or type changes."""
        mine = filter_names(self.key, self.kind) - kept
        for key, kind in CustomField.objects.exclude(pk=self.pk).values_list("key", "kind"):
            if shared := sorted(mine & filter_names(key, kind)):
                return (f"The queue would filter this field and “{key}” by the same name "
                        f"(cf_{shared[0]}); choose another key.")
        return ""

    def _clean_change(self) -> None:
        from capture.custom_fields import CHANGE_CHECKS, conversion_report

        old = CustomField.objects.filter(pk=self.pk).first()
        if old is None:
            return
        if old.key != self.key and old.leads_carrying().exists():
            raise ValidationError({"key": f"Leads carry “{old.key}”: the key cannot change "
                                          "(rename the label instead)."})
        if old.key != self.key:
            from capture.custom_fields import DELETE_CHECKS

            # Rules name the field by its key (cf_<key>): renamed, they would never match.
            if users := [user for check in DELETE_CHECKS for user in check(old)]:
                raise ValidationError({"key": f"Active rules use “{old.key}”: the key cannot "
                                              f"change until {'; '.join(users)} are changed "
                                              "or switched off (rename the label instead)."})
        limits = (self.min_value, self.max_value)
        if (old.kind, old.choice_list, (old.min_value, old.max_value)) != (
                self.kind, self.choice_list, limits):
            # Tighter limits are checked like a type change: a lead whose stored value falls
            # outside them could not be saved again (every save checks its values).
            change, where = (("type", "kind") if old.kind != self.kind
                             else ("answers", "choices") if old.choice_list != self.choice_list
                             else ("limits", "max_value"))
            report = conversion_report(old, self)
            if report.failures:
                raise ValidationError({where: report.message(change)})
            if broken := [problem for check in CHANGE_CHECKS for problem in check(self)]:
                where = "kind" if old.kind != self.kind else "choices"
                raise ValidationError({where: "Active rules use this field in a way the change "
                                              "would break; change or switch off these rules "
                                              "first: " + "; ".join(broken)})

class FormCustomField(models.Model):
    """A custom field placed on an intake form, required there or not."""

    form = models.ForeignKey("capture.IntakeForm", on_delete=models.CASCADE,
                             related_name="custom_field_slots")
    # Archived fields stay selectable so a form with one still saves; the form skips them.
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="form_slots")
    is_required = models.BooleanField("required", default=False)
    after = models.CharField(
        max_length=32, blank=True, choices=LeadField.choices,
        help_text="Shown right after this built-in field; empty puts it at the end.",
    )
    position = models.PositiveSmallIntegerField(
        default=0, help_text="Order among custom fields placed at the same spot.")

    class Meta:
        ordering = ["position", "id"]
        verbose_name = "custom field on this form"
        verbose_name_plural = "custom fields on this form"
        constraints = [models.UniqueConstraint(fields=["form", "field"],
                                               name="uniq_form_custom_field")]

    def __str__(self) -> str:
        return f"{self.field.label} on {self.form.title}"
