"""Top-level URLs: the admin, the public capture pages and a health check."""

import sys

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import BadRequest, DisallowedHost
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.templatetags.static import static
from django.urls import include, path
from django.views import defaults
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.generic import RedirectView

from capture.abuse import cache_reachable
from routing.admin import PeopleAutocomplete


def get_only_redirect(url: str, *, permanent: bool):
    """A redirect for GET and HEAD; a POST to it is a 405 (not the CSRF page)."""
    return csrf_exempt(RedirectView.as_view(url=url, permanent=permanent,
                                            http_method_names=["get", "head"]))

admin.site.site_header = "leadcrm"
admin.site.site_title = "leadcrm admin"
admin.site.index_title = "Sales operations"


@csrf_exempt  # a POST is a 405, not the CSRF page
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while leads can be taken in; 503 (JSON) when the database cannot be reached.

    An unreachable cache (REDIS_URL) is "degraded", still 200: the intake goes on without
    its rate limits (capture.abuse), so a load balancer should keep sending traffic."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "error", "database": "unreachable"}, status=503)
    if settings.REDIS_URL and not cache_reachable():
        return JsonResponse({"status": "degraded", "cache": "unreachable"})
    return JsonResponse({"status": "ok"})


# Machines post to these: a body Django cannot parse (a broken multipart form) gets a JSON 400
# like every other refusal there, not the HTML page people get.
MACHINE_PATHS = ("/inbound/", "/api/", "/chat/w/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(MACHINE_PATHS):
        if isinstance(exception, DisallowedHost):  # what a provider's log then shows: the fix
            host = request.META.get("HTTP_HOST", "")[:200]
            return JsonResponse({"error": f"This server does not answer for the host {host!r} "
                                 "(ALLOWED_HOSTS)."}, status=400)
        return JsonResponse({"error": "The request could not be read: its body or headers "
                             "are malformed."}, status=400)
    # Django's 400 page ensures a CSRF token by running the CSRF check, which reads the body
    # again: a body Django refused to read (a form post in UTF-16) would raise there, a 500.
    # The page has no form, so the check is marked done.
    request.csrf_processing_done = True
    return defaults.bad_request(request, exception)


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    """The error report's POST parameters, and none for a body Django refused to read (a form
    post in UTF-16): the report (DEBUG's page under make run, the admins' email) read it
    again, raised once more, and the request ended in the server's bare 500."""

    def get_post_parameters(self, request):
        try:
            return super().get_post_parameters(request)
        except BadRequest:
            request._mark_post_parse_error()  # its FILES read as empty too, as Django does
            return {}


def server_error(request: HttpRequest) -> HttpResponse:
    """Machines get JSON here too. A lost database connection (an outage, a failover, a pooler
    closing idle connections) is a 503 with Retry-After: the sender's retry will be taken in,
    and nothing of the failed request was kept."""
    lost = isinstance(sys.exc_info()[1], (OperationalError, InterfaceError))
    if not request.path.startswith(MACHINE_PATHS):
        if lost:  # people too: a page saying to reload, not "something went wrong"
            response = defaults.server_error(request, template_name="503.html")
            response.status_code = 503
            response["Retry-After"] = "30"
            return response
        return defaults.server_error(request)
    if lost:
        response = JsonResponse({"error": "The database is unreachable just now; retry in a "
                                 "moment."}, status=503)
        response["Retry-After"] = "30"
        return response
    return JsonResponse({"error": "Something went wrong on our side; retry later."}, status=500)


handler400 = bad_request
handler500 = server_error

urlpatterns = [
    # The admin's autocomplete, naming people by full name (routing.admin.PeopleAutocomplete).
    path("admin/autocomplete/", admin.site.admin_view(
        PeopleAutocomplete.as_view(admin_site=admin.site))),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", get_only_redirect(static("favicon.svg"), permanent=True)),
    path("", include("capture.urls")),
    path("", include("routing.urls")),  # /accounts/, /queue/, /leads/<id>/, /dashboard/
    path("", include("followup.urls")),
    path("", include("chat.urls")),  # /chat/w/<key>/ (the widget's API), /chat/demo/
]

if settings.BENCH_ENDPOINTS:  # make bench's baseline; off unless BENCH_ENDPOINTS=true
    from leadcrm.benchviews import bare_insert

    urlpatterns.append(path("bench/bare/", bare_insert))
