"""The benchmark's baseline: a bare Django view that inserts one row through the ORM.

Mounted only when BENCH_ENDPOINTS=true (make bench sets it); never in a normal deployment.
"""

import uuid

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from capture.models import InboundEvent


@csrf_exempt
@require_POST
def bare_insert(request: HttpRequest) -> JsonResponse:
    row = InboundEvent.objects.create(channel="bench-bare", external_id=uuid.uuid4().hex,
                                      status=InboundEvent.Status.IGNORED)
    return JsonResponse({"id": row.id}, status=201)
