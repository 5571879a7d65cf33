"""Who sees which leads: reps their own and their teams' unassigned ones, managers their teams',
sales ops and superusers all. Every lead page and list starts from `visible_leads()`."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from capture.models import Lead
from routing.models import RepProfile, Team, TeamMembership

SALES_OPS = "Sales ops"
MANAGERS = "Managers"


def _group_names(user) -> set[str]:
    # Cached on the user for the request: one query, however many checks a page makes.
    if not hasattr(user, "_leadcrm_groups"):
        user._leadcrm_groups = set(user.groups.values_list("name", flat=True))
    return user._leadcrm_groups


def sees_every_lead(user) -> bool:
    return user.is_superuser or SALES_OPS in _group_names(user)


def led_team_ids(user) -> QuerySet:
    """The teams a manager leads, as a subquery (no query of its own)."""
    return Team.objects.filter(lead=user).values("id")


def member_team_ids(user) -> QuerySet:
    return TeamMembership.objects.filter(rep__user=user).values("team_id")


def is_manager(user) -> bool:
    # Cached on the user for the request, like the groups: the menu and the page both ask.
    if not hasattr(user, "_leadcrm_is_manager"):
        user._leadcrm_is_manager = (sees_every_lead(user) or MANAGERS in _group_names(user)
                                    or Team.objects.filter(lead=user).exists())
    return user._leadcrm_is_manager


def is_rep(user) -> bool:
    """A rep (has a rep profile): only reps claim and work the team queues' leads; a manager
    who is not one gives a lead to a rep with Reassign. Cached on the user for the request."""
    if not hasattr(user, "_leadcrm_is_rep"):
        user._leadcrm_is_rep = (user.is_authenticated
                                and RepProfile.objects.filter(user=user).exists())
    return user._leadcrm_is_rep


def reps_of_teams(team_ids) -> QuerySet:
    """The people with a rep profile in these teams (ids or a query of ids), once each: whom a
    manager assigns to, filters by and sees in the rep load."""
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(
        pk__in=TeamMembership.objects.filter(team_id__in=team_ids).values("rep__user_id"))


def visible_leads(user) -> QuerySet[Lead]:
    """Every lead this user may open; any other lead is a 404 to them."""
    if not user.is_authenticated or not user.is_active:
        return Lead.objects.none()
    if sees_every_lead(user):
        return Lead.objects.all()
    led = led_team_ids(user)
    mine = (Q(owner=user)
            | Q(owner__isnull=True, assessment__team_id__in=member_team_ids(user))
            | Q(assessment__team_id__in=led)
            | Q(owner__rep_profile__memberships__team_id__in=led))
    # The OR over joins can repeat a row (a rep in two led teams): the ids subquery removes that.
    return Lead.objects.filter(pk__in=Lead.objects.filter(mine).values("pk"))


def may_view(user, lead: Lead) -> bool:
    """The check for one lead (its assessment already loaded): at most one small query."""
    if not user.is_authenticated or not user.is_active:
        return False
    if sees_every_lead(user) or lead.owner_id == user.pk:
        return True
    assessment = getattr(lead, "assessment", None)
    team_id = assessment.team_id if assessment is not None else None
    of_lead = Q(pk=team_id) if team_id is not None else Q(pk__in=[])
    if lead.owner_id is not None:
        of_lead |= Q(memberships__rep__user_id=lead.owner_id)
    allowed = Q(lead=user) & of_lead  # a manager of the lead's team or of its owner's team
    if lead.owner_id is None and team_id is not None:
        allowed |= Q(pk=team_id, memberships__rep__user=user)  # waiting in my team's queue
    return Team.objects.filter(allowed).exists()


def may_reassign(user, lead: Lead) -> bool:
    """Managers of the lead's team (or of its owner's team), sales ops and superusers."""
    if sees_every_lead(user):
        return True
    assessment = getattr(lead, "assessment", None)
    of_lead = Q(pk=assessment.team_id) if assessment and assessment.team_id else Q(pk__in=[])
    if lead.owner_id is not None:
        of_lead |= Q(memberships__rep__user_id=lead.owner_id)
    return Team.objects.filter(Q(lead=user) & of_lead).exists()


def may_see_dashboard(user) -> bool:
    return user.is_authenticated and is_manager(user)


def dashboard_team_ids(user) -> QuerySet | None:
    """None: every team (sales ops); else the teams this manager leads."""
    return None if sees_every_lead(user) else led_team_ids(user)
