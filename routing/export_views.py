"""The queue as a CSV file: the leads the rep sees, with the filters applied, custom fields
included (one column per field, named by its key so a re-import maps it by itself)."""

from __future__ import annotations

import csv

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from capture import custom_fields
from capture.fields import LEAD_FIELDS
from capture.privacy import record_access
from capture.privacy_models import LeadAccess
from capture.services import person_name
from routing.filters import QueueFilter
from routing.queue import TAB_SLUGS, in_queue_order
from routing.queue import tab_leads as tab_leads_of

BUILT_IN_COLUMNS = ("id", *LEAD_FIELDS, "status", "owner", "score", "tier", "channel", "source",
                    "created_at", "respond_by", "first_response_at")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ would make it a formula. A number
    of ours (a score below zero) is written as it is: it computes nothing."""
    if isinstance(value, int):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def lead_rows(leads, defs, exported: list[int] | None = None):
    """The CSV's lines; each lead's id is added to `exported` as its row is written."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([*BUILT_IN_COLUMNS, *defs])  # BOM: Excel reads UTF-8
    for lead in leads.iterator(chunk_size=2000):
        if exported is not None:
            exported.append(lead.pk)
        values = lead.custom_fields or {}
        row = [getattr(lead, name, "") for name in BUILT_IN_COLUMNS if name != "owner"]
        row.insert(BUILT_IN_COLUMNS.index("owner"), person_name(lead.owner, nobody=""))
        row += [custom_fields.export_text(d, values.get(k)) for k, d in defs.items()]
        yield writer.writerow([safe_cell(v.isoformat() if hasattr(v, "isoformat") else v)
                               for v in row])


@login_required
@require_GET
def queue_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    now = timezone.now()
    tab = request.GET.get("tab", "all")
    tab = tab if tab in TAB_SLUGS else "all"
    filters = QueueFilter(request.GET, queryset=tab_leads_of(request.user, tab, now))
    if not filters.is_valid():  # a file of nothing would look like an empty queue
        problems = "; ".join(f"{name}: {' '.join(errors)}"
                             for name, errors in filters.errors.items())
        return HttpResponse(f"The filters are not valid, so nothing was exported. {problems}",
                            status=400, content_type="text/plain; charset=utf-8")
    leads = in_queue_order(filters.qs.select_related("owner"), now)
    response = StreamingHttpResponse(_recorded(request.user, tab, leads),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="leads-{tab}-{now:%Y%m%d-%H%M}.csv"')
    return response


def _recorded(user, tab: str, leads):
    """The rows, then one access-trail entry naming every lead the file held (also when the
    download stops half-way: the rows already sent were exported)."""
    exported: list[int] = []
    try:
        yield from lead_rows(leads, custom_fields.definitions(), exported)
    finally:
        record_access(user, LeadAccess.Action.EXPORTED, listed=exported,
                      detail=f"queue CSV export ({tab}, {len(exported)} lead"
                      f"{'' if len(exported) == 1 else 's'})")
