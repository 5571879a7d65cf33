"""App config for capture: the channel adapters register their normalisers on start."""

from django.apps import AppConfig


class CaptureConfig(AppConfig):
    name = "capture"
    verbose_name = "Capture"

    def ready(self) -> None:
        from capture import (
            channels,  # noqa: F401  (registers the channel normalisers)
            checks,  # noqa: F401  (registers the deploy checks on the secret keys)
            schedules,
        )

        schedules.connect(self)

        from django.contrib.auth.signals import user_logged_in

        from capture.security import note_enrolment_at_login

        user_logged_in.connect(note_enrolment_at_login, dispatch_uid="leadcrm_otp_enrolled")

        from django.db.models.signals import post_delete, post_save

        from capture.abuse import block_rules_memo
        from capture.custom_field_models import CustomField, FormCustomField
        from capture.custom_fields import forget_definitions
        from capture.models import BlockRule, IntakeForm
        from capture.views import intake_forms_memo

        for signal in (post_save, post_delete):  # an edit in this process applies at once
            signal.connect(block_rules_memo.clear, sender=BlockRule, weak=False,
                           dispatch_uid=f"block_rules_memo_{signal}")
            signal.connect(intake_forms_memo.clear, sender=IntakeForm, weak=False,
                           dispatch_uid=f"intake_forms_memo_{signal}")
            for model in (CustomField, FormCustomField):
                signal.connect(forget_definitions, sender=model, weak=False,
                               dispatch_uid=f"custom_definitions_{model.__name__}_{signal}")
