"""CSV and Excel imports: every row is an InboundEvent keyed by a hash of its content, so a
rerun of the same file creates nothing new, and each row goes through the same intake."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from capture.channels.base import body_with_extra, read_record
from capture.custom_fields import definitions
from capture.identity import email_key
from capture.intake import (
    Consent,
    IntakeInput,
    Rejected,
    clean_payload,
    process_inbound_event,
    receive_event,
    register_normaliser,
)
from capture.models import OPEN_STATUSES, ChannelSettings, InboundEvent, Lead
from capture.models import Channel as LeadChannel

CHANNEL = "import"
BATCH_SIZE = 500  # rows checked and looked up together
# Rows per transaction: fewer commits, yet short enough that an import never holds SQLite's
# write lock long enough to make a web request wait (busy_timeout is 20 s).
COMMIT_EVERY = 25
PREVIEW_ROWS = 50


class ImportFileError(ValueError):
    """The file cannot be read as a table of leads (a message for a person in args[0])."""


def _header(name: object) -> str:
    return "_".join(str(name or "").strip().lower().replace("-", " ").split())


class Row(dict):
    """A row of a file: its cells by column name, and its number on the sheet (the header is
    row 1; blank rows count, and a cell typed over two lines is still one row)."""

    def __init__(self, number: int, cells: Iterable[tuple[str, str]],
                 columns: dict[str, str] | None = None):
        super().__init__(cells)
        self.number = number
        self.columns = columns or {}  # each cell's name as the sheet heads it ("E-mail Address")


def read_table(data: bytes, filename: str) -> Iterator[Row]:
    """Rows of a .csv (any common delimiter; UTF-8, UTF-16, Windows-1252) or .xlsx."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from _read_xlsx(data)
    elif suffix in (".csv", ".txt", ""):
        yield from _read_csv(data)
    else:
        raise ImportFileError(f"{filename}: use a .csv or .xlsx file (old .xls: save as .xlsx).")


# Excel's hint on a first line of its own: "sep=;" names the delimiter (Excel hides the line).
SEP_LINE = re.compile(r"sep=([^\r\n])\r?\n", re.IGNORECASE)


def _read_csv(data: bytes) -> Iterator[Row]:
    text = _decode_csv(data)
    stated = SEP_LINE.match(text)
    dialect = _with_delimiter(stated.group(1)) if stated else _dialect(text)
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    starts = 1  # the line the row being read starts on (a quoted cell may span lines)
    try:
        if stated:
            next(reader)  # no row: the header is row 1, as on the sheet
        header = next(reader, None)
        if not header:
            raise ImportFileError("The file is empty: the first row must name the columns.")
        names = [_header(h) for h in header]
        columns = _columns(names, header)
        starts = reader.line_num + 1
        for number, row in enumerate(reader, start=2):
            if any(cell.strip() for cell in row):
                yield Row(number, ((name, cell) for name, cell in zip(names, row, strict=False)
                                   if name), columns)
            starts = reader.line_num + 1
    except csv.Error as exc:  # the whole file: past a broken cell, rows cannot be told apart
        raise ImportFileError(_csv_problem(exc, reader.line_num, starts)) from None


def _csv_problem(exc: csv.Error, line: int, row_starts: int) -> str:
    if "field limit" in str(exc):  # no lead field takes a tenth of it: mostly a quote left open
        # Named by the line its row starts on: a quote left open there swallowed the lines
        # after it, and the reader stops thousands of lines further down.
        return (f"Line {row_starts}: a cell of the row that starts there is longer than "
                f"{csv.field_size_limit():,} characters. Is a quote (\") left open in that "
                "row? Fix the file and import it again.")
    return f"Line {line} cannot be read as CSV ({exc}). Fix the file and import it again."


BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 first: its LE BOM starts like UTF-16's


def _decode_csv(data: bytes) -> str:
    """The text of a CSV as spreadsheets save it: UTF-8 or UTF-16 ("Unicode Text") told by
    their byte-order mark, else UTF-8, else Windows-1252 (Excel's "CSV" on Western Windows:
    curly quotes and the euro sign), else Latin-1, which reads any bytes."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError:
                raise ImportFileError(
                    f"The file starts as {encoding.upper()} text but is not valid "
                    f"{encoding.upper()}: save it again as CSV (UTF-8).") from None
    sample = data[:4096]
    if b"\x00" in sample:  # no text encoding above has NUL bytes, except UTF-16 without a BOM
        half = len(sample) // 4
        encoding = ("utf-16-le" if sample[1::2].count(0) > half
                    else "utf-16-be" if sample[0::2].count(0) > half else "")
        try:
            if encoding:
                return data.decode(encoding)
        except UnicodeDecodeError:
            pass
        raise ImportFileError("This is not a text file: save the sheet as CSV (UTF-8) or .xlsx.")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


DELIMITERS = ",;\t|"


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    """The delimiter (and quoting) from the first complete lines; when the sniffer cannot
    tell, the delimiter the header line uses most."""
    sample = text[:8192]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # a cut last line misleads the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS)
    except csv.Error:
        pass
    first_line = sample.partition("\n")[0]
    delimiter = max(DELIMITERS, key=first_line.count)
    if not first_line.count(delimiter):
        return csv.excel
    return _with_delimiter(delimiter)


def _with_delimiter(delimiter: str) -> type[csv.Dialect]:
    class Found(csv.excel):
        pass

    Found.delimiter = delimiter
    return Found


def _read_xlsx(data: bytes) -> Iterator[Row]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(f"This is not a readable Excel file ({exc}).") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if not header:
            raise ImportFileError("The sheet is empty: the first row must name the columns.")
        names = [_header(h) for h in header]
        columns = _columns(names, header)
        for number, row in enumerate(rows, start=2):
            values = ["" if v is None else str(v).strip() for v in row]
            if any(values):
                yield Row(number, ((name, value) for name, value in
                                   zip(names, values, strict=False) if name), columns)
    finally:
        workbook.close()


def _columns(names: list[str], header: Iterable[object]) -> dict[str, str]:
    return {name: " ".join(str(h).split()) for name, h in zip(names, header, strict=False)
            if name}


def row_key(row: dict[str, str]) -> str:
    """The row's idempotency key: the same content is the same row, in any file."""
    canonical = json.dumps(sorted((k, v.strip()) for k, v in row.items() if v.strip()))
    return "row:" + hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    matched: int = 0
    already_imported: int = 0
    invalid: int = 0
    failed: int = 0
    left_out: int = 0  # stored and not taken in for good: a person erased on request
    errors: list[tuple[int, dict[str, list[str]]]] = field(default_factory=list)
    preview: list[dict] = field(default_factory=list)
    # A dry run's memory across its batches: the people (email keys, phones) earlier rows make,
    # and the row number of each row's content, so a later batch predicts what the import does.
    people_seen: set[str] = field(default_factory=set, repr=False)
    rows_seen: dict[str, int] = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        return (f"{self.rows} rows: {self.created} new leads, {self.matched} added to existing "
                f"leads, {self.already_imported} already imported, {self.invalid} with errors, "
                f"{self.failed} failed"
                + (f", {self.left_out} left out (people erased on request)"
                   if self.left_out else ""))


@dataclass(frozen=True)
class ImportOptions:
    source: str = "import"
    region: str = ""
    mapping: dict[str, str] = field(default_factory=dict)


def options_for(source: str = "", region: str = "") -> ImportOptions:
    config = ChannelSettings.for_channel(ChannelSettings.Name.IMPORT)
    return ImportOptions(
        source=source or config.source or "import",
        region=(region or config.default_region or "").upper(),
        mapping={_header(k): v for k, v in (config.field_mapping or {}).items()},
    )


def import_rows(
    rows: Iterable[dict[str, str]],
    options: ImportOptions,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[int, dict[str, str]]] = []
    for position, row in enumerate(rows, start=2):  # row 1 is the header
        # Named by its row on the sheet (Row.number, past blank rows), else by its position.
        batch.append((getattr(row, "number", position), row))
        if len(batch) >= batch_size:
            _import_batch(batch, options, report, dry_run)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _import_batch(batch, options, report, dry_run)
        if progress:
            progress(len(batch))
    return report


# Column names spreadsheets commonly use, read as lead fields (the admin mapping comes first).
ALIASES = {
    "firstname": "first_name", "given_name": "first_name", "lastname": "last_name",
    "surname": "last_name", "family_name": "last_name", "e_mail": "email",
    "email_address": "email", "phone_number": "phone", "mobile": "phone", "telephone": "phone",
    "tel": "phone", "company_name": "company", "organization": "company",
    "organisation": "company", "title": "job_title", "notes": "message",
    # The contact exports of Outlook, Google Contacts and LinkedIn
    "e_mail_address": "email", "business_phone": "phone", "mobile_phone": "phone",
    "e_mail_1_value": "email", "phone_1_value": "phone", "organization_name": "company",
    "organization_title": "job_title", "position": "job_title",
}


def _field_of(column: str, options: ImportOptions) -> str:
    return options.mapping.get(column) if column in options.mapping else ALIASES.get(column, column)


def by_column(errors: dict[str, list[str]], row: dict[str, str],
              options: ImportOptions) -> dict[str, list[str]]:
    """A row's errors named by the column the sheet heads ("E-mail Address (email)"), where
    that is not the field's own name: the person fixes the file, which knows no "email"."""
    columns = getattr(row, "columns", {})
    fields = {column: _field_of(column, options) for column in row}
    named: dict[str, list[str]] = {}
    for name, messages in errors.items():
        headed = next((column for column, field_name in fields.items() if field_name == name or (
            field_name in ("name", "full_name") and name in ("first_name", "last_name"))), None)
        label = columns.get(headed, "") if headed and headed != name else ""
        named[f"{label} ({name})" if label else name] = messages
    return named


def _mapped(row: dict[str, str], options: ImportOptions) -> dict[str, str]:
    mapped: dict[str, str] = {}
    for key, value in row.items():
        name = _field_of(key, options)
        if name in ("name", "full_name") and "first_name" not in row:
            first, _, last = value.strip().partition(" ")
            mapped.setdefault("first_name", first)
            mapped.setdefault("last_name", last)
        elif name and not (name in mapped and not value.strip()):
            mapped[name] = value
    return mapped


def _import_batch(batch, options: ImportOptions, report: ImportReport, dry_run: bool) -> None:
    checked, named = [], {}
    custom_defs = definitions(active_only=True)  # once a batch, not once a row
    for number, row in batch:
        report.rows += 1
        mapped = _mapped(row, options)
        result = read_record(mapped, region=options.region, unknown="keep",
                             custom_defs=custom_defs)
        if result.errors:
            report.invalid += 1
            named[number] = by_column(result.errors, row, options)
            if len(report.errors) < 1000:
                report.errors.append((number, named[number]))
        checked.append((number, mapped, result, row_key(row)))
    keys = [key for *_, key in checked]
    existing: set[str] = set()  # rows stored before and not refused: imported (or failed)
    refused: dict[str, int] = {}  # rows refused before: their rejected event, to read again
    for key, event_id, status in InboundEvent.objects.filter(
            channel=CHANNEL, external_id__in=keys).values_list("external_id", "id", "status"):
        if status == InboundEvent.Status.REJECTED:
            refused[key] = event_id
        else:
            existing.add(key)
    if dry_run:
        _preview(checked, existing, report, named)
        return
    todo = []
    for item in checked:
        key, errors = item[3], item[2].errors
        if key in refused:
            if not errors:  # still bad: counted (and listed) with the errors, nothing written
                todo.append(item)
        elif key not in existing:
            todo.append(item)
        elif not errors:  # a bad row is counted (and listed) with the errors
            report.already_imported += 1
    for start in range(0, len(todo), COMMIT_EVERY):
        with transaction.atomic():  # a few rows per commit, not a long lock (SQLite)
            for number, mapped, result, key in todo[start:start + COMMIT_EVERY]:
                if key in refused:
                    _import_refused_row(refused[key], number, mapped, options, report)
                else:
                    _import_row(number, mapped, result, key, options, report)


def _import_row(number: int, mapped: dict, result, key: str, options: ImportOptions,
                report: ImportReport) -> None:
    payload = {"row": mapped, "line": number, "source": options.source, "region": options.region}
    if result.errors:
        receive_event(channel=CHANNEL, external_id=key, payload=payload,
                      status=InboundEvent.Status.REJECTED,
                      reason=f"Row {number}: {json.dumps(result.errors)}")
        return
    event, created, outcome = receive_event(channel=CHANNEL, external_id=key, payload=payload,
                                            data=_input(result, options.source, timezone.now()))
    if not created:
        report.already_imported += 1
    elif outcome is None and event.status == InboundEvent.Status.IGNORED:
        report.left_out += 1  # not a failure: nothing will retry it, nothing should
    elif outcome is None:
        report.failed += 1
    elif outcome.created:
        report.created += 1
    else:
        report.matched += 1


def _import_refused_row(event_id: int, number: int, mapped: dict, options: ImportOptions,
                        report: ImportReport) -> None:
    """A row an earlier import refused that reads well now (another --region, a new field
    mapping): its rejected event takes this import's reading and is taken in, once."""
    payload = {"row": mapped, "line": number, "source": options.source, "region": options.region}
    # The claim: a concurrent import of the same row finds the event no longer rejected.
    claimed = InboundEvent.objects.filter(id=event_id, status=InboundEvent.Status.REJECTED).update(
        status=InboundEvent.Status.RECEIVED, payload=clean_payload(payload), reason="",
        received_at=timezone.now(), processed_at=None)
    if not claimed:
        report.already_imported += 1
        return
    outcome = process_inbound_event(event_id)  # reads the stored row with the normaliser below
    if outcome is None:
        status = InboundEvent.objects.values_list("status", flat=True).get(id=event_id)
        if status == InboundEvent.Status.REJECTED:
            report.invalid += 1
        else:
            report.failed += 1
    elif outcome.created:
        report.created += 1
    else:
        report.matched += 1


def _preview(checked, existing: set[str], report: ImportReport,
             named: dict[int, dict[str, list[str]]]) -> None:
    """What the import would do, without writing: new lead, match, already imported, error."""
    valid = [(n, m, r, k) for n, m, r, k in checked if not r.errors and k not in existing]
    emails = {email_key(r.fields.get("email", "")) for *_, r, _ in valid} - {""}
    phones = {r.fields.get("phone", "") for *_, r, _ in valid} - {""}
    known = {}
    if emails or phones:
        for lead_id, key, phone in Lead.objects.filter(
            Q(email_key__in=emails) | Q(phone__in=phones), status__in=OPEN_STATUSES
        ).values_list("id", "email_key", "phone"):
            known.setdefault(key, lead_id)
            known.setdefault(phone, lead_id)
    seen, rows_seen = report.people_seen, report.rows_seen  # a repeated row adds nothing
    for number, _mapped_row, result, key in checked:
        if result.errors:  # counted with the errors, whether or not it was seen before
            outcome = "; ".join(f"{k}: {' '.join(v)}" for k, v in named[number].items())
        elif key in existing:
            report.already_imported += 1
            outcome = "already imported"
        elif key in rows_seen:
            report.already_imported += 1
            outcome = f"the same as row {rows_seen[key]}: adds nothing"
        else:
            rows_seen[key] = number
            ids = (email_key(result.fields.get("email", "")), result.fields.get("phone", ""))
            match = next((known[i] for i in ids if i and i in known), None)
            if match:
                report.matched += 1
                outcome = f"adds to lead #{match}"
            elif any(i and i in seen for i in ids):
                report.matched += 1
                outcome = "adds to a lead made by an earlier row"
            else:
                report.created += 1
                outcome = "new lead"
            seen.update(i for i in ids if i)
        if len(report.preview) < PREVIEW_ROWS:
            custom = "; ".join(
                f"{key}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                for key, v in result.custom.items())
            report.preview.append({"line": number, "fields": result.fields, "outcome": outcome,
                                   "error": bool(result.errors), "custom": custom})


@register_normaliser(CHANNEL)
def normalise(event: InboundEvent) -> IntakeInput:
    """For reprocessing a stored row (the import itself passes the input it checked)."""
    payload = event.payload
    result = read_record(payload.get("row") or {}, region=payload.get("region", ""),
                         unknown="keep")
    if result.errors:
        raise Rejected(f"Row {payload.get('line')}: {json.dumps(result.errors)}")
    return _input(result, payload.get("source") or "import", event.received_at)


def _input(result, source: str, at) -> IntakeInput:
    return IntakeInput(
        channel=LeadChannel.IMPORT,
        fields=result.fields,
        summary=f"Imported from {source}"[:255],
        body=body_with_extra(result.fields.get("message", ""), result.extra),
        occurred_at=at,
        source=source,
        custom=result.custom,
        consent=Consent(text=f"Consent recorded in the import {source}", given_at=at)
        if result.consent else None,
        notify_prospect=False,  # an import never emails the people in it
        tell_owner=False,  # nor tells an owner that their lead "wrote": nobody did
    )
