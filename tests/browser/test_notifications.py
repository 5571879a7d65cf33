"""Chromium: a rep sees the notice of a lead handed to them on the queue page, opens it from
there, and marks it read."""

from __future__ import annotations

import pytest

from followup.models import Notification
from routing.services import reassign_lead
from tests.browser.test_queue import PASSWORD, sign_in
from tests.factories import UserFactory
from tests.routing.conftest import make_rep
from tests.routing.pages import lead_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_rep_sees_an_assignment_notice_and_marks_it_read(live_server, page):
    from routing.models import Team

    manager = UserFactory(username="max", first_name="Max")
    team = Team.objects.create(name="Sales", lead=manager)
    alice = make_rep("alice", team).user
    alice.set_password(PASSWORD)
    alice.save()
    lead = lead_for(make_rep("bob", team).user, team, first_name="Grace", last_name="Hopper",
                    tier="hot")
    reassign_lead(lead=lead, owner=alice, acting_user=manager)  # alice is told
    sign_in(page, live_server, "alice")
    notices = page.locator("#notifications")
    assert "Grace Hopper" in notices.inner_text()
    assert page.locator("#nav-notifications").count() == 1  # the menu counts it (folded)
    assert notices.locator("a", has_text="Grace Hopper").get_attribute("href") == \
        f"/leads/{lead.pk}/"

    notices.get_by_role("button", name="Mark read").click()  # a POST with the CSRF token
    page.wait_for_load_state()
    page.locator("#notifications").wait_for(state="detached")
    assert page.url.endswith("/queue/")
    assert page.locator("#nav-notifications").count() == 0
    assert Notification.objects.get(user=alice).read_at is not None


def test_twenty_notices_leave_the_queue_in_sight(live_server, page):
    """The queue is the page's work: twenty unread notices make a short box that scrolls, and
    the first lead of the queue is still on a laptop's first screen."""
    from followup.services import notify
    from routing.models import Team

    team = Team.objects.create(name="Sales", lead=UserFactory(username="max"))
    alice = make_rep("alice", team).user
    alice.set_password(PASSWORD)
    alice.save()
    lead = lead_for(alice, team, first_name="Grace", last_name="Hopper", tier="hot")
    for n in range(20):
        notify(user_id=alice.pk, lead=lead, kind="assigned", text=f"New hot lead: Grace ({n})")
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server, "alice")
    assert page.locator("#notifications li").count() == 20
    first = page.locator("#queue-rows tr").first
    assert "Grace Hopper" in first.inner_text()
    assert first.bounding_box()["y"] + first.bounding_box()["height"] <= 800
