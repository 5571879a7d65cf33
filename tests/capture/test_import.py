"""CSV and Excel imports: same pipeline, per-row errors, dry run, reruns add nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from capture.channels.imports import ImportFileError, ImportOptions, import_rows, read_table
from capture.models import InboundEvent, Lead
from tests.capture.conftest import PAYLOADS

pytestmark = pytest.mark.django_db
CSV = PAYLOADS / "import" / "leads.csv"


def run(*args) -> str:
    out = StringIO()
    call_command("import_leads", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


def test_import_leads_makes_leads_through_the_intake_and_reports_bad_rows():
    out = run(CSV, "--source", "expo-2026")
    assert "row 4: E-mail (email): Enter a valid email address" in out
    assert out.strip().endswith("4 rows: 3 new leads, 0 added to existing leads, "
                                "0 already imported, 1 with errors, 0 failed")
    grace = Lead.objects.get(email="grace@navy.mil")
    assert (grace.first_name, grace.phone, grace.job_title, grace.channel, grace.source) == (
        "Grace", "+14155552671", "Rear Admiral", "import", "expo-2026")
    assert "trade_show_booth: B12" in grace.interactions.get().body
    assert InboundEvent.objects.get(status="rejected").reason.startswith("Row 4:")


def test_a_rerun_of_the_same_file_creates_nothing_new():
    run(CSV)
    out = run(CSV)
    assert "0 new leads" in out and "3 already imported" in out
    assert Lead.objects.count() == 3
    assert sum(lead.interactions.count() for lead in Lead.objects.all()) == 3


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_rerun_s_summary_counts_each_row_once_and_still_lists_the_bad_one(dry_run):
    run(CSV)
    out = run(CSV, *(["--dry-run"] if dry_run else []))
    assert "row 4: E-mail (email): Enter a valid email address" in out
    assert out.strip().endswith("4 rows: 0 new leads, 0 added to existing leads, "
                                "3 already imported, 1 with errors, 0 failed")
    assert InboundEvent.objects.count() == 4


def test_an_imported_person_already_known_is_matched_not_duplicated(visitor, mailoutbox):
    visitor.submit(first_name="Grace", email="grace@navy.mil")
    mailoutbox.clear()
    out = run(CSV)
    assert "2 new leads, 1 added to existing leads" in out
    assert Lead.objects.get(email="grace@navy.mil").interactions.count() == 2
    assert mailoutbox == []  # imports never email the people in them


def test_a_dry_run_writes_nothing_and_says_what_would_happen():
    out = run(CSV, "--dry-run")
    assert "Dry run, nothing written" in out and "3 new leads" in out
    assert not Lead.objects.exists() and not InboundEvent.objects.exists()


def test_a_dry_run_counts_a_row_repeated_in_the_file_as_the_import_does(tmp_path):
    """Seen with a spreadsheet that had the same row twice (a copy-paste): the preview said
    "2 added to existing leads, 0 already imported" and the import then did "1 added to
    existing leads, 1 already imported" (the repeat is the same row, so it adds nothing)."""
    sheet = tmp_path / "repeated.csv"
    sheet.write_text("first_name,email\nGrace,grace@navy.mil\nAda,ada@example.com\n"
                     "Grace,grace@navy.mil\n", encoding="utf-8")
    preview = run(sheet, "--dry-run").strip().splitlines()[-1]
    in_batches = run(sheet, "--dry-run", "--batch-size", "1").strip().splitlines()[-1]
    done = run(sheet).strip().splitlines()[-1]
    assert done == ("3 rows: 2 new leads, 0 added to existing leads, 1 already imported, "
                    "0 with errors, 0 failed")
    assert preview == in_batches == "Dry run, nothing written. Would import " + done


def test_a_row_s_error_names_the_column_as_the_sheet_heads_it(tmp_path, admin_client):
    """An Outlook export heads its columns "E-mail Address" and "Mobile Phone": its bad rows
    were listed as "row 3: email: ..." and "phone: ...", names found nowhere in the file."""
    sheet = tmp_path / "outlook.csv"
    sheet.write_text("First Name,E-mail Address,Mobile Phone,email_2\n"
                     "Grace,grace@navy.mil,+1 415 555 2671,\n"
                     "Ada,ada@,12,\n", encoding="utf-8")
    out = run(sheet)
    assert ("row 3: E-mail Address (email): Enter a valid email address, like "
            "name@company.com.; Mobile Phone (phone): This does not look like a phone number."
            ) in out
    page = admin_client.post("/admin/capture/lead/import/", {"file": SimpleUploadedFile(
        "outlook.csv", sheet.read_bytes(), content_type="text/csv"), "dry_run": "on"})
    page = " ".join(page.content.decode().split())
    assert "Row 3: E-mail Address (email): Enter a valid email" in page
    assert '<li>E-mail Address (email): Enter a valid email' in page  # the preview's row
    # A column headed with the field's own name is named as before.
    (tmp_path / "plain.csv").write_text("Email\nada@\n", encoding="utf-8")
    assert "row 2: email: Enter a valid email" in run(tmp_path / "plain.csv")


def test_an_excel_file_imports_like_the_csv(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["first_name", "email", "phone"])
    sheet.append(["Grace", "grace@navy.mil", 4155552671])  # Excel stores it as a number
    sheet.append([None, None, None])
    workbook.save(tmp_path / "leads.xlsx")
    run(tmp_path / "leads.xlsx")
    assert Lead.objects.get().phone == "+14155552671"


def test_unreadable_files_are_a_clear_error(tmp_path):
    (tmp_path / "leads.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CommandError, match=r"use a \.csv or \.xlsx"):
        run(tmp_path / "leads.xls")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="not a readable Excel file"):
        run(tmp_path / "bad.xlsx")
    with pytest.raises(CommandError, match="no such file"):
        run(tmp_path / "missing.csv")


def test_the_admin_previews_then_imports(admin_client):
    page = admin_client.get("/admin/capture/lead/import/")
    assert page.status_code == 200
    upload = SimpleUploadedFile("leads.csv", CSV.read_bytes(), content_type="text/csv")
    preview = admin_client.post("/admin/capture/lead/import/", {"file": upload, "dry_run": "on"})
    html = preview.content.decode()
    assert "Dry run: nothing was written" in html
    assert "Row 4: E-mail (email): Enter a valid email address" in html and "new lead" in html
    assert not Lead.objects.exists()
    upload = SimpleUploadedFile("leads.csv", CSV.read_bytes(), content_type="text/csv")
    admin_client.post("/admin/capture/lead/import/", {"file": upload})
    assert Lead.objects.count() == 3
    assert Lead.objects.get(email="ada@analytical.example").source == "leads"


def test_the_admin_import_page_is_for_staff_who_may_add_leads(client, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    client.force_login(user)
    assert client.get("/admin/capture/lead/import/").status_code == 403


def _bulk(first: int, count: int) -> bytes:
    header = "first_name,last_name,email,phone,company\n"
    return (header + "".join(f"P{i},L{i},p{i}@bulk.example,,Co {i % 97}\n"
                             for i in range(first, first + count))).encode()


def test_import_work_per_row_is_constant_and_a_rerun_is_a_query_per_batch():
    """What keeps 100,000 rows in minutes (docs/channels.md has the timings): the queries
    per row do not grow with the file, and rows already imported cost no per-row query."""
    options = ImportOptions(source="bulk")
    import_rows(read_table(_bulk(0, 20), "warm.csv"), options)  # rules and caches loaded
    with CaptureQueriesContext(connection) as small:
        import_rows(read_table(_bulk(1000, 50), "a.csv"), options)
    with CaptureQueriesContext(connection) as large:
        import_rows(read_table(_bulk(2000, 200), "b.csv"), options)
    assert Lead.objects.count() == 270
    per_row_small = len(small.captured_queries) / 50
    per_row_large = len(large.captured_queries) / 200
    assert per_row_large <= per_row_small + 0.5, (per_row_small, per_row_large)
    with CaptureQueriesContext(connection) as rerun:
        report = import_rows(read_table(_bulk(2000, 200), "b.csv"), options)
    assert report.already_imported == 200 and Lead.objects.count() == 270
    assert len(rerun.captured_queries) <= 2  # one lookup per batch of 500 rows


@pytest.mark.parametrize("header, row", [
    # Outlook's contacts export ("Title" there is Mr / Dr: the job title comes after it)
    ("First Name,Last Name,Title,Company,Job Title,Business Phone,Mobile Phone,E-mail Address",
     "Ada,Lovelace,Dr,Analytical,CTO,,+44 7911 123456,ada@analytical.example"),
    # Google Contacts' export
    ("First Name,Last Name,E-mail 1 - Value,Phone 1 - Value,Organization Name,"
     "Organization Title", "Ada,Lovelace,ada@analytical.example,+44 7911 123456,Analytical,CTO"),
    # LinkedIn's connections export (no phone there)
    ("First Name,Last Name,URL,Email Address,Company,Position,Connected On",
     "Ada,Lovelace,https://www.linkedin.com/in/ada,ada@analytical.example,Analytical,CTO,"
     "01 Dec 2026"),
])
def test_the_contact_exports_of_common_tools_import_without_a_field_mapping(tmp_path, header,
                                                                           row):
    # Their email and phone columns were not read: every row was refused with "Give an email
    # address or a phone number so the lead can be reached".
    path = tmp_path / "contacts.csv"
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    assert "1 new leads" in run(path)
    lead = Lead.objects.get()
    assert (lead.email, lead.company, lead.job_title) == (
        "ada@analytical.example", "Analytical", "CTO")
    assert lead.phone in ("", "+447911123456")
    assert lead.phone or "Phone" not in header


def test_read_table_sniffs_semicolons_and_latin1():
    data = "Vorname;E-Mail;Firma\nJürgen;j@firma.example;Firma GmbH\n".encode("latin-1")
    assert list(read_table(data, "x.csv")) == [
        {"vorname": "Jürgen", "e_mail": "j@firma.example", "firma": "Firma GmbH"}]
    with pytest.raises(ImportFileError, match="empty"):
        list(read_table(b"", "x.csv"))


def test_a_row_that_fails_is_kept_failed_and_reprocessed(monkeypatch):
    import capture.intake as intake
    from capture.channels.base import reprocess

    monkeypatch.setattr(intake, "receive_lead", lambda *a, **k: 1 / 0)
    report = import_rows([{"email": "grace@navy.mil"}], ImportOptions())
    assert report.failed == 1 and not Lead.objects.exists()
    monkeypatch.undo()
    assert reprocess(InboundEvent.objects.get(status="failed").pk)
    assert Lead.objects.get().channel == "import"


UK_ROW = ("First Name,Last Name,E-mail,Phone Number,Company Name\n"
          "Uma,Uk,,020 7946 0123,Brit Ltd\n")


def test_a_refused_row_imports_on_a_rerun_that_reads_it_well_and_only_once(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(UK_ROW)
    assert ("row 2: Phone Number (phone): This is not a valid US phone number: from another "
            "country") in run(path)
    assert InboundEvent.objects.get().status == "rejected"
    preview = run(path, "--region", "GB", "--dry-run")
    assert "1 rows: 1 new leads, 0 added to existing leads, 0 already imported" in preview
    out = run(path, "--region", "GB")
    assert out.strip().endswith("1 rows: 1 new leads, 0 added to existing leads, "
                                "0 already imported, 0 with errors, 0 failed")
    lead = Lead.objects.get(phone="+442079460123")
    assert (lead.first_name, lead.company) == ("Uma", "Brit Ltd")
    again = run(path, "--region", "GB")
    assert again.strip().endswith("1 rows: 0 new leads, 0 added to existing leads, "
                                  "1 already imported, 0 with errors, 0 failed")
    event = InboundEvent.objects.get()  # the refused row's event, taken in: no second one
    assert (event.status, event.lead, event.reason) == ("processed", lead, "")
    assert event.payload["region"] == "GB"
    assert lead.interactions.count() == 1
    run(path)  # read with the old region again: still refused, the import is kept
    assert Lead.objects.get().interactions.count() == 1
    assert InboundEvent.objects.get().status == "processed"


def test_a_refused_row_read_again_is_taken_in_once_when_twice_in_the_file():
    row = {"first_name": "Uma", "phone": "020 7946 0123"}
    import_rows([row], ImportOptions(region="US"))
    report = import_rows([row, dict(row)], ImportOptions(region="GB"))
    assert (report.created, report.already_imported, report.invalid) == (1, 1, 0)
    assert Lead.objects.get().interactions.count() == 1


EXCEL_ROWS = ("First Name\tLast Name\tE-mail\tCompany Name\n"
              "Seán\tO\u2019Brien\tsean@obrien.example\tCafé € Ltd\n")


def test_a_windows_1252_csv_from_excel_keeps_its_curly_quotes_and_euro_sign(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(EXCEL_ROWS.replace("\t", ",").encode("cp1252"))
    assert "1 new leads" in run(path)
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name, lead.company) == ("Seán", "O\u2019Brien", "Café € Ltd")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-8-sig"])
def test_unicode_text_from_excel_is_read_tab_separated(tmp_path, encoding):
    path = tmp_path / "unicode.txt"
    path.write_bytes(EXCEL_ROWS.replace("\n", "\r\n").encode(encoding))  # utf-16: with a BOM
    out = run(path)
    assert out.strip().endswith("1 rows: 1 new leads, 0 added to existing leads, "
                                "0 already imported, 0 with errors, 0 failed")
    lead = Lead.objects.get(email="sean@obrien.example")
    assert (lead.last_name, lead.company) == ("O\u2019Brien", "Café € Ltd")


def test_a_file_that_is_not_text_is_a_clear_error(tmp_path, admin_client):
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" * 20
    (tmp_path / "photo.csv").write_bytes(data)
    with pytest.raises(CommandError, match="not a text file"):
        run(tmp_path / "photo.csv")
    upload = SimpleUploadedFile("photo.csv", data, content_type="text/csv")
    page = admin_client.post("/admin/capture/lead/import/", {"file": upload})
    assert page.status_code == 400 and "This is not a text file" in page.content.decode()
    assert not InboundEvent.objects.exists()


def test_the_delimiter_is_found_when_rows_are_ragged():
    # Rows whose empty last cells were left off: csv.Sniffer cannot tell the delimiter.
    data = b"first_name;last_name;email\nAda;Lovelace;ada@analytical.example\nBob;Smith\nCy\n"
    assert list(read_table(data, "x.csv")) == [
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@analytical.example"},
        {"first_name": "Bob", "last_name": "Smith"}, {"first_name": "Cy"}]


def test_a_cell_too_long_to_read_is_a_clear_error_and_imports_nothing(tmp_path, admin_client):
    data = (b"first_name,email,message\nAda,ada@analytical.example,Hello\n"
            b"Bob,bob@example.com," + b"x" * 200_000 + b"\n")
    (tmp_path / "big.csv").write_bytes(data)
    with pytest.raises(CommandError, match=r"Line 3: a cell of the row that starts there is "
                                           r"longer than 131,072 characters"):
        run(tmp_path / "big.csv")
    for dry_run in ({"dry_run": "on"}, {}):  # the preview, then the import
        upload = SimpleUploadedFile("big.csv", data, content_type="text/csv")
        page = admin_client.post("/admin/capture/lead/import/", {"file": upload, **dry_run})
        assert page.status_code == 400 and "Line 3: a cell of the row" in page.content.decode()
    assert not InboundEvent.objects.exists()


def test_a_quote_left_open_is_a_clear_error_not_one_row_eating_the_rest(tmp_path):
    rows = b"".join(b"Ann%d,ann%d@example.com,Hi\n" % (n, n) for n in range(8000))
    path = tmp_path / "open-quote.csv"
    path.write_bytes(b'first_name,email,message\nAda,ada@analytical.example,"Hello\n' + rows)
    # The line the quote was opened on, not the one thousands of lines down where it broke.
    with pytest.raises(CommandError, match=r"^Line 2: a cell of the row that starts there .* "
                                           r"Is a quote \(\"\) left open in that row\?"):
        run(path)
    assert not Lead.objects.exists()


def test_a_region_phone_numbers_do_not_know_is_refused_before_anything_is_read(admin_client):
    with pytest.raises(CommandError, match=r"--region “GBR” is not a country code"):
        run(CSV, "--region", "GBR")
    upload = SimpleUploadedFile("leads.csv", CSV.read_bytes(), content_type="text/csv")
    page = admin_client.post("/admin/capture/lead/import/", {"file": upload, "region": "XX"})
    assert page.status_code == 400 and "“XX” is not a country code" in page.content.decode()
    assert not InboundEvent.objects.exists()
    assert "2 new leads" in run(CSV, "--region", "gb")  # any case


def test_a_bad_row_is_named_by_its_row_on_the_sheet_past_blank_rows_and_multi_line_cells(
        tmp_path):
    # Seen with a file from a spreadsheet: a blank row (and a note typed over two lines) made
    # every later error name the row above the bad one, where a good row was.
    data = (b"first_name,email,message\n"
            b'Ada,ada@analytical.example,"two\nlines"\n'
            b"\n"
            b"Bob,not-an-email,\n")
    (tmp_path / "gaps.csv").write_bytes(data)
    assert "row 4: email: Enter a valid email address" in run(tmp_path / "gaps.csv")
    assert InboundEvent.objects.get(status="rejected").reason.startswith("Row 4:")


def test_the_admin_refuses_a_file_too_long_to_import_in_one_request_before_writing_any_row(
        admin_client, monkeypatch):
    # Seen over HTTP under gunicorn (the README's command, 30 s timeout): a 3,000-row file
    # took the worker past its timeout; the page was gunicorn's bare 500 and 1,904 rows were in.
    from capture import admin

    monkeypatch.setattr(admin, "ADMIN_IMPORT_MAX_ROWS", 2)
    data = b"email\na@x.example\nb@x.example\nc@x.example\n"
    page = admin_client.post("/admin/capture/lead/import/",
                             {"file": SimpleUploadedFile("expo.csv", data)})
    assert page.status_code == 400
    assert "expo.csv has 3 rows; this page imports up to 2 at a time" in page.content.decode()
    assert "manage.py import_leads" in page.content.decode()
    assert not InboundEvent.objects.exists()
    preview = admin_client.post("/admin/capture/lead/import/",
                                {"file": SimpleUploadedFile("expo.csv", data), "dry_run": "on"})
    assert preview.status_code == 200 and "3 rows: 3 new leads" in preview.content.decode()
    # The preview does not send them on to the import it then refuses.
    assert "untick" not in preview.content.decode()
    assert "this page imports up to 2 at a time" in preview.content.decode()


def test_the_admin_previews_a_very_long_file_by_its_first_rows_and_says_so(admin_client,
                                                                          monkeypatch):
    # Seen on a busy machine: a 20,000-row file's preview took 25 s, close to gunicorn's 30 s
    # (and the import itself is refused past ADMIN_IMPORT_MAX_ROWS anyway).
    from capture import admin

    monkeypatch.setattr(admin, "ADMIN_IMPORT_MAX_ROWS", 2)
    monkeypatch.setattr(admin, "ADMIN_PREVIEW_MAX_ROWS", 3)
    data = b"email\n" + b"".join(b"p%d@x.example\n" % n for n in range(5))
    preview = admin_client.post("/admin/capture/lead/import/",
                                {"file": SimpleUploadedFile("expo.csv", data), "dry_run": "on"})
    page = preview.content.decode()
    assert preview.status_code == 200 and "3 rows: 3 new leads" in page
    assert "expo.csv has 5 rows" in page
    assert "This preview checked its first 3 rows only." in page
    assert not InboundEvent.objects.exists()


def test_excel_s_sep_line_names_the_delimiter_and_is_no_row():
    # Seen with a file carrying Excel's "sep=;" hint line: it was read as the header, so every
    # row was refused with "Give an email address or a phone number".
    data = b"sep=;\r\nFirst Name;E-mail;Company\r\nAda;ada@analytical.example;Engines, Ltd\r\n"
    rows = list(read_table(data, "x.csv"))
    assert rows == [{"first_name": "Ada", "e_mail": "ada@analytical.example",
                     "company": "Engines, Ltd"}]
    assert rows[0].number == 2  # as Excel shows it: the sep line is hidden, the header is row 1
