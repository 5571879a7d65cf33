"""The manager's dashboard and its CSV exports: parse the filters, read the figures, render."""

from __future__ import annotations

import csv
from datetime import date, timedelta

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from capture.models import Channel, LeadAccess
from capture.privacy import record_access
from capture.services import person_name
from routing import dashboard as figures
from routing.access import dashboard_team_ids, may_see_dashboard, reps_of_teams
from routing.forms import PersonChoiceField
from routing.models import Team

# Dates a date picker offers but a range cannot span (9999-12-31 has no day after it).
DATE_RANGE = [MinValueValidator(date(2000, 1, 1), "Choose a date from 2000 on."),
              MaxValueValidator(date(2999, 12, 31), "Choose a date before the year 3000.")]


class DashboardFilter(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                            validators=DATE_RANGE)
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}),
                          validators=DATE_RANGE)
    team = forms.ModelChoiceField(queryset=Team.objects.none(), required=False,
                                  empty_label="All my teams")
    rep = PersonChoiceField(queryset=get_user_model().objects.none(), required=False,
                            empty_label="Every rep")
    source = forms.CharField(required=False, max_length=100)

    def __init__(self, *args, team_ids=None, **kwargs):
        super().__init__(*args, **kwargs)
        teams = Team.objects.all() if team_ids is None else Team.objects.filter(pk__in=team_ids)
        self.fields["team"].queryset = teams
        reps = get_user_model().objects.filter(rep_profile__isnull=False)
        if team_ids is not None:
            reps = reps.filter(pk__in=reps_of_teams(team_ids).values("pk"))
        self.fields["rep"].queryset = reps

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", "The end date is before the start date.")
        elif data.get("start") and not data.get("end") and data["start"] > timezone.localdate():
            # The end defaults to today: the range read "Jan 1, 2027 - Dec 7, 2026", empty.
            self.add_error("start", "The start date is after today: give an end date after it, "
                                    "or an earlier start.")
        return data


def _scope(request: HttpRequest) -> tuple[DashboardFilter, figures.Scope]:
    if not may_see_dashboard(request.user):
        raise Http404("No dashboard here.")
    allowed = dashboard_team_ids(request.user)
    today = timezone.localdate()
    form = DashboardFilter(request.GET or None, team_ids=allowed,
                           initial={"start": today - timedelta(days=29), "end": today})
    data: dict = {}
    if form.is_bound:
        # An invalid filter is left out (the page says which, above the figures and beside
        # the field); the valid ones still apply: cleaned_data keeps the fields that passed.
        form.is_valid()
        data = form.cleaned_data
    end = data.get("end") or today
    start = data.get("start") or end - timedelta(days=29)
    team_ids = allowed
    if data.get("team"):
        team_ids = [data["team"].pk]
    rep = data.get("rep")
    return form, figures.Scope(start=start, end=end, team_ids=team_ids,
                               rep_id=rep.pk if rep else None, source=data.get("source", ""))


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    form, scope = _scope(request)
    ranged = figures.range_figures(scope)
    speed = ranged["speed"]
    weekly: dict = {}
    for row in ranged["over_time"]:
        weekly[row["week"]] = weekly.get(row["week"], 0) + row["leads"]
    channel_labels = dict(Channel.choices)
    by_channel = [{**r, "label": channel_labels.get(r["channel"], r["channel"])}
                  for r in ranged["by_channel"]]
    context = {
        "nav": "dashboard", "form": form, "scope": scope, "speed": speed,
        "speed_week_bars": figures.bars(speed["week"], "median", "week"),
        "speed_rep_bars": figures.bars(speed["rep"], "median", "rep"),
        "sla": ranged["sla"],
        "weekly_bars": figures.bars([{"week": w, "leads": n} for w, n in weekly.items()],
                                    "leads", "week"),
        "channel_bars": figures.bars(by_channel, "leads", "label"),
        "by_source": ranged["by_source"], "by_campaign": ranged["by_campaign"],
        "conversion": ranged["conversion"],
        "aging": figures.aging_leads(scope), "unassigned": figures.unassigned_leads(scope),
        "load": figures.rep_load(scope), "query": request.GET.urlencode(),
    }
    return render(request, "routing/dashboard.html", context)


def _csv_rows(table: str, scope: figures.Scope) -> tuple[list[str], list[list]]:
    def seconds(d):
        return round(d.total_seconds()) if d is not None else ""

    if table in ("speed-rep", "speed-source", "speed-tier", "speed-week"):
        key = table.removeprefix("speed-")
        rows = figures.speed_to_lead(scope)[key]
        label = {"rep": "rep", "source": "source", "tier": "tier", "week": "week"}[key]
        return ([label, "answered", "median_seconds", "p90_seconds"],
                [[r[label].date() if key == "week" else r[label], r["answered"],
                  seconds(r["median"]), seconds(r["p90"])] for r in rows])
    if table == "leads-over-time":
        return (["week", "channel", "leads"],
                [[r["week"].date(), r["channel"], r["leads"]]
                 for r in figures.leads_over_time(scope)])
    if table in ("source", "channel", "utm_campaign"):
        return ([table, "leads"], [[r[table], r["leads"]] for r in figures.leads_by(scope, table)])
    if table == "conversion":
        return (["source", "leads", "contacted", "qualified", "won"],
                [[r["source"], r["leads"], r["contacted"], r["qualified"], r["won"]]
                 for r in figures.conversion_by_source(scope)])
    if table == "sla":
        s = figures.sla_rates(scope)
        return (["with_deadline", "met", "breached", "pending"],
                [[s["total"], s["met"], s["breached"], s["pending"]]])
    if table in ("aging", "unassigned"):
        leads = figures.aging_leads(scope) if table == "aging" else figures.unassigned_leads(scope)
        return (["id", "name", "created_at", "respond_by", "owner"],
                [[lead.id, lead.display_name, lead.created_at.isoformat(),
                  lead.respond_by.isoformat() if lead.respond_by else "",
                  person_name(lead.owner, nobody="") if table == "aging" else ""]
                 for lead in leads])
    if table == "load":
        return (["rep", "open", "capacity", "available"],
                [[r["rep"], r["open"], r["capacity"] or "", r["available"]]
                 for r in figures.rep_load(scope)])
    raise Http404("No such table.")


LEAD_TABLES = ("aging", "unassigned")  # the tables that list leads by name


def _safe_cell(value) -> object:
    # A cell starting with = + - @ is a formula in a spreadsheet: prefix it (CSV injection).
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@login_required
@require_GET
def dashboard_csv(request: HttpRequest, table: str) -> HttpResponse:
    form, scope = _scope(request)
    if form.is_bound and form.errors:  # a file of other dates or teams would look right
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items())
        return HttpResponse(f"The filters are not valid, so nothing was exported. {problems}",
                            status=400, content_type="text/plain; charset=utf-8")
    header, rows = _csv_rows(table, scope)
    if table in LEAD_TABLES:  # names of people: an export on each lead's access trail
        record_access(request.user, LeadAccess.Action.EXPORTED, listed=[row[0] for row in rows],
                      detail=f"dashboard CSV export ({table}, {len(rows)} lead"
                      f"{'' if len(rows) == 1 else 's'})")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"{table}-{scope.start}-{scope.end}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_safe_cell(v) for v in row])
    return response
