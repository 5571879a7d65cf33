"""App config for followup: listens to capture's signals and keeps its schedules installed."""

from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from followup import receivers, schedules  # noqa: F401  (connects the receivers)
        from followup.models import Sequence
        from routing.models import TIER_DELETE_CHECKS
        from routing.ruleset import bump_version

        if sequences_using_tier not in TIER_DELETE_CHECKS:
            TIER_DELETE_CHECKS.append(sequences_using_tier)

        schedules.connect(self)
        # Sequences are cached with the rule set (followup.sequences.active_sequences).
        for signal in (post_save, post_delete):
            signal.connect(bump_version, sender=Sequence,
                           dispatch_uid=f"followup.bump.{signal is post_save}.Sequence")
        for through in (Sequence.tiers.through, Sequence.forms.through):
            m2m_changed.connect(bump_version, sender=through,
                                dispatch_uid=f"followup.bump.m2m.{through.__name__}")


def sequences_using_tier(tier) -> list[str]:
    """Sequences limited to `tier`: with the tier gone they would take every tier's leads."""
    from followup.models import Sequence

    return [f"sequence “{name}”" for name in Sequence.objects.filter(tiers=tier)
            .order_by("name").values_list("name", flat=True)]
