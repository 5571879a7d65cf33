"""Calling out to a provider (Meta's Graph API, LinkedIn's Lead Sync API): one way to retry."""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRIED_STATUSES = (429, 500, 502, 503, 504)


def retrying_session(*, attempts: int, backoff: float) -> requests.Session:
    """A session whose GETs are retried on 429, 5xx and connection errors, with backoff.

    What is still failing after that reaches the caller, whose task is retried by the queue."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=Retry(total=attempts, backoff_factor=backoff,
                                            status_forcelist=RETRIED_STATUSES,
                                            allowed_methods=("GET",)))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
