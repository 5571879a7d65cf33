"""App config for followup: listens to capture's signals and keeps its schedules installed."""

from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from followup import receivers, schedules  # noqa: F401  (connects the receivers)
        from followup.models import Sequence
        from routing.ruleset import bump_version

        schedules.connect(self)
        # Sequences are cached with the rule set (followup.sequences.active_sequences).
        for signal in (post_save, post_delete):
            signal.connect(bump_version, sender=Sequence,
                           dispatch_uid=f"followup.bump.{signal is post_save}.Sequence")
        for through in (Sequence.tiers.through, Sequence.forms.through):
            m2m_changed.connect(bump_version, sender=through,
                                dispatch_uid=f"followup.bump.m2m.{through.__name__}")
