"""The rep's queue: what each rep sees, in what order, filtered, paged, counted and claimed."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from capture.models import Interaction, Lead, LeadStatus
from followup.models import Notification
from routing.models import Team
from routing.queue import in_queue_order, tab_counts
from routing.views import POLL_SETTLE
from tests.factories import UserFactory
from tests.routing.conftest import make_rep
from tests.routing.pages import lead_for

pytestmark = pytest.mark.django_db


# What one queue page costs, however many leads (and custom fields) there are.
QUEUE_QUERIES = 24


def names_in(response) -> list[str]:
    return re.findall(r'class="fw-semibold">([^<]+)</a>', response.content.decode())


@pytest.fixture
def as_alice(client, alice):
    client.force_login(alice.user)
    return client


def test_the_queue_needs_a_login(client):
    response = client.get("/queue/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_breached_leads_come_first_then_the_nearest_deadline(as_alice, alice):
    lead_for(alice.user, first_name="Later", minutes_left=60)
    lead_for(alice.user, first_name="Soon", minutes_left=5)
    lead_for(alice.user, first_name="Overdue", minutes_left=-10)
    lead_for(alice.user, first_name="Nodeadline", minutes_left=None)
    assert names_in(as_alice.get("/queue/")) == [
        "Overdue Lovelace", "Soon Lovelace", "Later Lovelace", "Nodeadline Lovelace"]


def test_a_rep_sees_only_their_own_leads(as_alice, alice, bob):
    lead_for(alice.user, first_name="Mine")
    lead_for(bob.user, first_name="Bobs")
    assert names_in(as_alice.get("/queue/")) == ["Mine Lovelace"]


def test_the_row_shows_tier_source_first_line_and_a_countdown(as_alice, alice):
    lead_for(alice.user, tier="hot", source="google-ads",
             message="Need 40 laptops by Friday\nAlso a printer")
    html = as_alice.get("/queue/").content.decode()
    assert "google-ads" in html and ">hot<" in html
    assert "Need 40 laptops by Friday" in html and "Also a printer" not in html
    assert 'data-respond-by="' in html


def test_lead_fields_are_escaped(as_alice, alice):
    lead_for(alice.user, first_name="<script>alert(1)</script>", message="<b>bold</b>")
    html = as_alice.get("/queue/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_tabs_split_new_due_and_waiting(as_alice, alice):
    lead_for(alice.user, first_name="Fresh", minutes_left=60 * 24 * 3)
    lead_for(alice.user, first_name="Callback", status=LeadStatus.CONTACTED,
             first_response_at=timezone.now(), needs_callback=True)
    lead_for(alice.user, first_name="Answered", status=LeadStatus.CONTACTED,
             first_response_at=timezone.now())
    assert names_in(as_alice.get("/queue/?tab=new")) == ["Fresh Lovelace"]
    assert names_in(as_alice.get("/queue/?tab=due")) == ["Callback Lovelace"]
    assert names_in(as_alice.get("/queue/?tab=waiting")) == ["Answered Lovelace"]


@time_machine.travel("2026-12-02 10:00:00+00:00", tick=True)  # "due before midnight" is stable
def test_the_due_count_is_the_due_list_each_lead_once(as_alice, alice):
    """The Due today count adds up its two halves (a call back owed; unanswered and due before
    midnight): a lead that is both is one lead, a snoozed one is in neither."""
    now = timezone.now()
    lead_for(alice.user, first_name="Owed", minutes_left=20)
    lead_for(alice.user, first_name="Both", minutes_left=20, needs_callback=True)
    lead_for(alice.user, first_name="Callback", status=LeadStatus.CONTACTED,
             first_response_at=now, needs_callback=True)
    lead_for(alice.user, first_name="Late", minutes_left=-30)
    lead_for(alice.user, first_name="Snoozed", minutes_left=20, needs_callback=True,
             snoozed_until=now + timedelta(hours=2))
    lead_for(alice.user, first_name="Nextweek", minutes_left=60 * 24 * 7)
    response = as_alice.get("/queue/?tab=due")
    assert sorted(names_in(response)) == [
        "Both Lovelace", "Callback Lovelace", "Late Lovelace", "Owed Lovelace"]
    assert 'data-count="due">4<' in response.content.decode()


def test_closed_leads_are_not_in_the_queue(as_alice, alice):
    lead_for(alice.user, first_name="Won", status=LeadStatus.WON)
    assert names_in(as_alice.get("/queue/")) == []


def test_tab_counts_are_shown_and_capped(as_alice, alice, django_assert_max_num_queries):
    for i in range(101):
        lead_for(alice.user, email=f"p{i}@example.com")
    html = as_alice.get("/queue/").content.decode()
    assert 'data-count="new">99+<' in html
    assert 'data-count="waiting">0<' in html
    assert "<title>(99+) My queue" in html


def test_filters_and_search(as_alice, alice, quote_form, tiers):
    lead_for(alice.user, first_name="Hot", tier="hot", channel="api", form=quote_form)
    lead_for(alice.user, first_name="Cold", tier="cold", channel="email", company="Initech")
    assert names_in(as_alice.get("/queue/?tier=hot")) == ["Hot Lovelace"]
    assert names_in(as_alice.get("/queue/?channel=email")) == ["Cold Lovelace"]
    assert names_in(as_alice.get(f"/queue/?form={quote_form.pk}")) == ["Hot Lovelace"]
    assert names_in(as_alice.get("/queue/?q=initech")) == ["Cold Lovelace"]
    today = timezone.localdate()
    assert len(names_in(as_alice.get(f"/queue/?created_after={today}"))) == 2
    later = today + timedelta(days=1)
    assert names_in(as_alice.get(f"/queue/?created_after={later}")) == []


def test_search_finds_a_phone_number_written_as_people_write_it(as_alice, alice, bob):
    lead_for(alice.user, first_name="Phoned", phone="+14155552671")
    lead_for(alice.user, first_name="Other", phone="+14155550100")
    lead_for(bob.user, first_name="Bobs", phone="+16505552671")  # not alice's to see
    for term in ("(415) 555-2671", "415 555 2671", "+1 415-555-2671", "4155552671", "555-2671"):
        assert names_in(as_alice.get("/queue/", {"q": term})) == ["Phoned Lovelace"], term


def test_pagination_moves_through_the_queue(as_alice, alice):
    for i in range(30):
        lead_for(alice.user, first_name=f"N{i:02d}", minutes_left=i + 1)
    first = as_alice.get("/queue/")
    second = as_alice.get("/queue/?page=2")
    assert names_in(first)[0] == "N00 Lovelace" and len(names_in(first)) == 25
    assert names_in(second) == [f"N{i:02d} Lovelace" for i in range(25, 30)]
    assert "Next →" in first.content.decode() and "Next →" not in second.content.decode()


def test_pages_follow_the_breached_first_order_across_the_page_boundaries(as_alice, alice):
    # 30 breached (more than a page), answered leads past their deadline (not breached: they
    # come after every lead still owed an answer), a few without a deadline: the three
    # ordered reads must page exactly like one sort would.
    for i in range(30):
        lead_for(alice.user, first_name=f"B{i:02d}", minutes_left=-100 + i)
    for i in range(12):
        lead_for(alice.user, first_name=f"A{i:02d}", minutes_left=-50 + i,
                 first_response_at=timezone.now() - timedelta(minutes=1),
                 status=LeadStatus.CONTACTED)
    for i in range(10):
        lead_for(alice.user, first_name=f"F{i:02d}", minutes_left=i + 1)
    for i in range(3):
        lead_for(alice.user, first_name=f"N{i:02d}", minutes_left=None)
    shown = [name for page in (1, 2, 3, 4)
             for name in names_in(as_alice.get(f"/queue/?page={page}"))]
    expected = ([f"B{i:02d}" for i in range(30)] + [f"F{i:02d}" for i in range(10)]
                + [f"N{i:02d}" for i in range(3)] + [f"A{i:02d}" for i in range(12)])
    assert shown == [f"{name} Lovelace" for name in expected]
    assert names_in(as_alice.get("/queue/?page=5")) == []
    one_sort = in_queue_order(Lead.objects.filter(owner=alice.user))
    assert [lead.first_name for lead in one_sort] == expected


def test_a_new_lead_owed_an_answer_comes_before_the_answered_and_the_nurtured(as_alice, alice):
    now = timezone.now()
    lead_for(alice.user, first_name="Talked", minutes_left=-600, status=LeadStatus.CONTACTED,
             first_response_at=now - timedelta(hours=9), last_activity_at=now - timedelta(hours=2))
    lead_for(alice.user, first_name="Stale", minutes_left=-6000, status=LeadStatus.QUALIFIED,
             first_response_at=now - timedelta(days=4), last_activity_at=now - timedelta(days=3))
    lead_for(alice.user, first_name="Resting", minutes_left=-60000, status=LeadStatus.NURTURE,
             last_activity_at=now - timedelta(days=1))
    lead_for(alice.user, first_name="Missed", minutes_left=-900, status=LeadStatus.CONTACTED,
             first_response_at=now - timedelta(hours=15), needs_callback=True,
             last_activity_at=now - timedelta(minutes=5))
    lead_for(alice.user, first_name="Fresh", minutes_left=5, tier="hot")
    # Owed an answer first; then a call back owed; then the longest untouched.
    assert names_in(as_alice.get("/queue/")) == [
        "Fresh Lovelace", "Missed Lovelace", "Stale Lovelace", "Resting Lovelace",
        "Talked Lovelace"]
    # A nurtured lead nobody answered is not "due today" and not breached.
    assert names_in(as_alice.get("/queue/?tab=due")) == ["Fresh Lovelace", "Missed Lovelace"]


@pytest.mark.parametrize("rows", [3, 60])
def test_the_queue_runs_the_same_queries_however_many_leads(as_alice, alice, rows,
                                                            django_assert_num_queries):
    for i in range(rows):  # a third of them answered: the page reads all three slices
        answered = {"first_response_at": timezone.now(), "status": LeadStatus.CONTACTED}
        lead = lead_for(alice.user, email=f"q{i}@example.com",
                        **(answered if i % 3 == 0 else {}))
        Notification.objects.create(user=alice.user, lead=lead, kind="assigned",
                                    text=f"New lead for you: q{i}")
    # session, user, the rows (the breached slice, the other unanswered, then the answered,
    # each only while the page is not full), my teams, 6 tab counts, the poll's baselines (the
    # newest lead and my newest assignment notice written POLL_SETTLE ago, and my leads past
    # them, which the page shows), the form filter's choices, tiers, the menu's dashboard check
    # (groups, teams led), the custom fields' definitions, the waiting chats box (chat/: those
    # on my leads, and those of my teams' widgets I could take), my unread notifications with
    # their leads and count (the list and the menu's badge: one), and the access trail's one
    # insert
    with django_assert_num_queries(QUEUE_QUERIES):
        response = as_alice.get("/queue/?size=50")
    assert response.status_code == 200
    assert f"New lead for you: q{rows - 1}" in response.content.decode()


def test_the_team_tab_lists_the_teams_unassigned_leads_only(as_alice, sales_team):
    other = Team.objects.create(name="Enterprise")
    lead_for(None, sales_team, first_name="Ours")
    lead_for(None, other, first_name="Theirs")
    assert names_in(as_alice.get("/queue/?tab=team")) == ["Ours Lovelace"]


def test_claiming_a_lead_makes_it_mine_and_says_so_on_the_timeline(as_alice, alice,
                                                                   sales_team):
    lead = lead_for(None, sales_team)
    response = as_alice.post(f"/queue/claim/{lead.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    lead.refresh_from_db()
    assert lead.owner == alice.user
    assert lead.interactions.filter(kind=Interaction.Kind.ASSIGNMENT,
                                    summary__contains="Claimed").count() == 1


def test_a_lead_claimed_by_someone_else_cannot_be_claimed_again(as_alice, bob, sales_team):
    lead = lead_for(bob.user, sales_team)
    response = as_alice.post(f"/queue/claim/{lead.pk}/", follow=True)
    assert "Someone else has taken this lead" in response.content.decode()
    lead.refresh_from_db()
    assert lead.owner == bob.user


def test_a_rep_cannot_claim_another_teams_lead(as_alice):
    lead = lead_for(None, Team.objects.create(name="Enterprise"))
    as_alice.post(f"/queue/claim/{lead.pk}/")
    lead.refresh_from_db()
    assert lead.owner is None


def poll(client, page) -> dict:
    """One poll as queue.js sends it; `page` holds the baselines (the page's context, then each
    answer) and is moved on as the script moves its data attributes."""
    seen = page["seen"] if isinstance(page["seen"], str) else ",".join(map(str, page["seen"]))
    data = client.get(f"/queue/poll/?after={page['newest_id']}&notice={page['newest_notice']}"
                      f"&seen={seen}").json()
    page = {key: data[key] for key in ("newest_id", "newest_notice", "seen")}
    return data, page


def baselines(client) -> dict:
    context = client.get("/queue/").context
    return {key: context[key] for key in ("newest_id", "newest_notice", "seen")}


def test_polling_reports_leads_assigned_since_the_page_loaded(as_alice, alice):
    lead_for(alice.user)
    page = baselines(as_alice)
    data, page = poll(as_alice, page)
    assert data["arrived"] == 0
    second = lead_for(alice.user)
    data, page = poll(as_alice, page)
    counts = data.pop("counts")
    assert (data["arrived"], data["new"]) == (1, "2")
    # Every tab's badge, as the page counts them ("due today" depends on the hour: not fixed).
    assert counts == tab_counts(alice.user) and counts["all"] == counts["new"] == "2"
    assert second.pk in page["seen"]
    assert poll(as_alice, page)[0]["arrived"] == 0  # told once


def test_a_lead_whose_id_was_taken_before_anothers_but_committed_after_is_news_once(
        as_alice, alice):
    """PostgreSQL hands out ids as transactions start, not as they commit: under load lead 7
    can commit after lead 8 has been announced. It was never news (7 was below the baseline)."""
    page = baselines(as_alice)
    base = Lead.objects.order_by("-id").values_list("id", flat=True).first() or 0
    later = lead_for(alice.user, id=base + 10)
    data, page = poll(as_alice, page)
    assert data["arrived"] == 1
    earlier = lead_for(alice.user, id=base + 5)  # its transaction commits only now
    data, page = poll(as_alice, page)
    assert data["arrived"] == 1 and set(page["seen"]) >= {earlier.pk, later.pk}
    assert poll(as_alice, page)[0]["arrived"] == 0
    with time_machine.travel(timezone.now() + POLL_SETTLE + timedelta(seconds=1)):
        data, page = poll(as_alice, page)  # settled: the baseline moves past both
        assert data["arrived"] == 0 and page["newest_id"] == later.pk and page["seen"] == []
        assert poll(as_alice, page)[0]["arrived"] == 0


def test_polling_reports_an_older_lead_reassigned_to_me_since_the_page_loaded(
        as_alice, alice, bob, manager):
    bobs = lead_for(bob.user, first_name="Linda")
    page = baselines(as_alice)
    data, page = poll(as_alice, page)
    assert data["arrived"] == 0
    boss = Client()
    boss.force_login(manager)
    boss.post(f"/leads/{bobs.pk}/reassign/", {"owner": alice.user.pk, "note": "holiday"})
    data, page = poll(as_alice, page)
    assert data["arrived"] == 1 and bobs.pk in page["seen"]
    assert poll(as_alice, page)[0]["arrived"] == 0  # told once
    with time_machine.travel(timezone.now() + POLL_SETTLE + timedelta(seconds=1)):
        data, page = poll(as_alice, page)
        assert data["arrived"] == 0 and page["newest_notice"] > 0 and page["seen"] == []


def test_a_notice_older_by_id_but_newer_by_time_is_not_news_on_every_poll(as_alice, alice):
    """Two workers may write two notices with their ids the other way round from their times:
    the page's baseline is the newest by time, and the poll reads newer in the same order."""
    from followup.models import Notification

    first, second = lead_for(alice.user), lead_for(alice.user)
    now = timezone.now() - POLL_SETTLE
    later = Notification.objects.create(user=alice.user, lead=first, kind="assigned",
                                        text="New lead", created_at=now)
    Notification.objects.create(user=alice.user, lead=second, kind="assigned",
                                text="New lead", created_at=now - timedelta(seconds=1))
    page = baselines(as_alice)
    assert page["newest_notice"] == later.pk
    assert poll(as_alice, page)[0]["arrived"] == 0


def test_a_lead_committed_while_the_poll_counts_is_news_on_the_next_poll(as_alice, alice,
                                                                        monkeypatch):
    """Under load other workers commit leads while a poll runs its queries: one that lands
    after the count must not be passed over by the baselines the poll answers."""
    import routing.views

    page = baselines(as_alice)
    lead_for(alice.user)
    late = []

    def counts_while_a_lead_lands(user, now=None):
        if not late:
            late.append(lead_for(alice.user))
        return tab_counts(user, now)

    monkeypatch.setattr(routing.views, "tab_counts", counts_while_a_lead_lands)
    first, page = poll(as_alice, page)
    second, page = poll(as_alice, page)
    assert (first["arrived"], second["arrived"]) == (1, 1)
    assert late[0].pk in page["seen"]
    assert poll(as_alice, page)[0]["arrived"] == 0


def test_a_lead_committed_while_the_queue_page_is_built_is_news_on_the_first_poll(
        as_alice, alice, monkeypatch):
    import routing.views

    late = []

    def counts_while_a_lead_lands(user, now=None):
        late.append(lead_for(alice.user))
        return tab_counts(user, now)

    monkeypatch.setattr(routing.views, "tab_counts", counts_while_a_lead_lands)
    page = baselines(as_alice)
    monkeypatch.undo()
    data, page = poll(as_alice, page)
    assert data["arrived"] == 1 and late[0].pk in page["seen"]


@pytest.mark.parametrize("query", ["after=99999999999999999999999999",
                                   "after=9223372036854775808&notice=-1",
                                   "after={lead}&notice=99999999999999999999"])
def test_polling_with_an_id_out_of_range_is_no_news(as_alice, alice, query):
    lead = lead_for(alice.user)
    answer = as_alice.get("/queue/poll/?" + query.format(lead=lead.pk))
    assert answer.status_code == 200 and answer.json()["arrived"] == 0


def test_a_lead_resting_in_nurture_shows_no_countdown_and_is_never_escalated(as_alice, alice):
    from routing.selectors import leads_breaching, leads_past_warning

    rested = lead_for(alice.user, first_name="Rested", status=LeadStatus.NURTURE,
                      minutes_left=30)
    html = as_alice.get("/queue/").content.decode()
    rested_row = html[html.rindex("<tr", 0, html.index("Rested Lovelace")):]
    rested_row = rested_row[:rested_row.index("</tr>")]
    assert ">nurture</span>" in rested_row and "countdown" not in rested_row
    later = timezone.now() + timedelta(hours=2)
    assert not leads_breaching(later).filter(pk=rested.pk).exists()
    assert not leads_past_warning(timezone.now() + timedelta(minutes=20)).filter(
        pk=rested.pk).exists()
    page = as_alice.get(f"/leads/{rested.pk}/").content.decode()
    assert "SLA: off, in long-term nurture" in page


def test_an_export_with_a_bad_filter_says_so_instead_of_an_empty_file(as_alice, alice):
    lead_for(alice.user, first_name="Only")
    answer = as_alice.get("/queue/export.csv?created_after=garbage")
    assert answer.status_code == 400
    assert "nothing was exported" in answer.content.decode()
    assert "Enter a valid date" in answer.content.decode()


def test_a_created_range_that_ends_before_it_starts_is_a_form_error(as_alice, alice):
    lead_for(alice.user, first_name="Only")
    html = as_alice.get("/queue/?created_after=2026-12-05&created_before=2026-12-01"
                        ).content.decode()
    assert "The end date is before the start date." in html


def test_the_tabs_keep_the_search_and_filters(as_alice, alice):
    lead_for(alice.user, first_name="Only")
    html = as_alice.get("/queue/?tab=all&q=Only&status=new&page=2").content.decode()
    assert 'href="?tab=new&amp;q=Only&amp;status=new"' in html
    assert 'href="?tab=team&amp;q=Only&amp;status=new"' in html


def test_the_rows_fragment_is_only_the_rows(as_alice, alice):
    lead_for(alice.user, first_name="Only")
    html = as_alice.get("/queue/?fragment=rows").content.decode()
    assert "Only Lovelace" in html and "<html" not in html


def test_a_rep_without_a_team_has_an_empty_team_tab(client):
    user = UserFactory(username="solo")
    client.force_login(user)
    assert names_in(client.get("/queue/?tab=team")) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reps_claiming_at_once_give_the_lead_to_exactly_one(sales_team):
    import threading

    from django.db import connection

    from routing.actions import claim_lead

    reps = [make_rep(f"rep{i}", sales_team).user for i in range(8)]
    lead = lead_for(None, sales_team)
    barrier = threading.Barrier(len(reps))
    won = []

    def claim(user):
        try:
            barrier.wait()
            if claim_lead(lead_id=lead.pk, user=user):
                won.append(user.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in reps]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lead = Lead.objects.get(pk=lead.pk)
    assert len(won) == 1 and lead.owner_id == won[0]
    assert lead.interactions.filter(summary__contains="Claimed").count() == 1


@pytest.mark.parametrize("query", ["created_before=9999-12-31",
                                   "created_after=0001-01-01&created_before=9999-12-31"])
def test_the_widest_dates_a_picker_offers_filter_the_queue(as_alice, alice, query):
    lead_for(alice.user, first_name="Only")
    assert as_alice.get(f"/queue/?{query}").status_code == 200
    assert as_alice.get(f"/queue/export.csv?{query}").status_code == 200


def test_the_export_writes_a_negative_score_as_a_number(as_alice, alice):
    # Free mail and a very small company give a score below zero: the formula guard made it
    # the text "'-35" in a spreadsheet (the guard is for what people typed, not our numbers).
    lead_for(alice.user, first_name="Neg", score=-35, phone="+14155552671",
             company="=HYPERLINK()")
    response = as_alice.get("/queue/export.csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    values = next(csv.DictReader(io.StringIO(text)))
    assert values["score"] == "-35"
    assert values["company"] == "'=HYPERLINK()" and values["phone"] == "'+14155552671"


def test_the_export_names_the_owner_as_the_lead_page_does(as_alice, alice):
    # The owner column gave the login (alice); the queue and the lead page say Alice Anders.
    alice.user.last_name = "Anders"
    alice.user.save()
    lead_for(alice.user, first_name="Named")
    text = b"".join(as_alice.get("/queue/export.csv").streaming_content).decode("utf-8-sig")
    assert next(csv.DictReader(io.StringIO(text)))["owner"] == "Alice Anders"


@pytest.mark.parametrize("query", ["page=400000000000000000", "page=99999999999999999999",
                                   "tab=snoozed&page=99999999999999999999", "page=-5"])
def test_a_page_number_out_of_range_is_a_page_not_an_error(as_alice, alice, query):
    lead_for(alice.user, first_name="Only")
    response = as_alice.get(f"/queue/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Only Lovelace" in html if query == "page=-5" else "back to the first page" in html
