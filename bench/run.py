"""make bench: leadcrm under real load (gunicorn + qcluster), every figure against a baseline
measured in the same run, on SQLite and (when it answers) PostgreSQL.

Writes bench/results.md and bench/results.json. Load comes from separate processes on
127.0.0.1: wrk for throughput, bench/steady.py for a fixed arrival rate. Every loop is bounded
in time and count.

Environment: BENCH_SECONDS (throughput run per scenario, default 10), BENCH_STEADY_SECONDS
(default 60), BENCH_STEADY_RATE (default 50), BENCH_BIG_LEADS (default 1000000),
BENCH_DATABASES ("sqlite,postgres"), BENCH_PG_URL (postgres://postgres@127.0.0.1:5432),
BENCH_PARTS (throughput,steady,flat,rules,sla,custom), BENCH_KEEP=1 (keep the previous
results.json figures of the parts and databases this run leaves out).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.cookiejar
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
STEADY_SECONDS = int(os.environ.get("BENCH_STEADY_SECONDS", "60"))
STEADY_RATE = int(os.environ.get("BENCH_STEADY_RATE", "50"))
BIG_LEADS = int(os.environ.get("BENCH_BIG_LEADS", "1000000"))
DATABASES = os.environ.get("BENCH_DATABASES", "sqlite,postgres").split(",")
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
PARTS = os.environ.get("BENCH_PARTS", "throughput,steady,flat,rules,sla,custom").split(",")
GUNICORN_WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WEBHOOK_SECRET = "bench-webhook-secret-" + "x" * 16


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """One database, one gunicorn with several sync workers, one qcluster."""

    def __init__(self, name: str, database_url: str):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "BENCH_ENDPOINTS": "true",
            "FORM_RATE_LIMIT_PER_MINUTE": "0",
            "WEBHOOK_RATE_LIMIT_PER_MINUTE": "0",
            "EMAIL_URL": "dummymail://",
            "LOG_LEVEL": "WARNING",
            "Q_WORKERS": "2",
            "DEMO_PASSWORD": "bench-demo-password",
            "DJANGO_SETTINGS_MODULE": "leadcrm.settings",
        }
        self.procs: list[subprocess.Popen] = []

    def manage(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done.stdout

    def script(self, code: str) -> str:
        """Run Python in the stack's Django; returns what the code printed (last line)."""
        out = self.manage("shell", "--no-imports", "-c", code)
        return out.strip().splitlines()[-1] if out.strip() else ""

    def prepare(self) -> None:
        self.manage("migrate", "--noinput")
        # The demo's rule set, so every lead goes through real scoring, routing (round-robin
        # with the reps' rows locked), deadlines, alerts and a follow-up sequence. Its reps
        # take at most 25 open leads each; a load test gives them thousands, so the cap is
        # lifted (else every lead after the first fifty would wait in the team's queue).
        self.manage("seed_demo")
        self.routed_rep_ids = [int(i) for i in self.script(
            "from routing.models import RepProfile\n"
            "RepProfile.objects.update(capacity=None)\n"
            "print(','.join(str(i) for i in RepProfile.objects.values_list('user_id', "
            "flat=True)))\n").split(",")]
        self.script(
            "from capture.models import IntakeForm, WebhookSource\n"
            "IntakeForm.objects.update_or_create(slug='bench', defaults=dict(title='Bench',"
            " fields=['first_name','email','company','message'], required_fields=['email'],"
            " min_fill_seconds=0))\n"
            f"WebhookSource.objects.update_or_create(slug='bench', defaults=dict(name='Bench',"
            f" secret={WEBHOOK_SECRET!r}))\n"
            "print('ok')\n"
        )
        out = self.manage("create_api_key", "bench-partner", "--source", "bench")
        self.api_key = next(ln.strip() for ln in out.splitlines()
                            if ln.strip() and " " not in ln.strip())
        # The benchmark measures throughput, not the partner's rate limit.
        self.script("from capture.models import ApiKey\n"
                    "ApiKey.objects.update(rate_limit_per_minute=0)\nprint('ok')\n")

    def start(self) -> None:
        logs = open(ROOT / "bench" / f".{self.name}-server.log", "w")  # noqa: SIM115
        self.procs.append(subprocess.Popen(
            [PY, "-m", "gunicorn", "leadcrm.wsgi", "--workers", str(GUNICORN_WORKERS),
             "--bind", f"127.0.0.1:{self.port}", "--access-logfile", "-", "--log-level",
             "warning"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=logs,
            start_new_session=True))
        self.procs.append(subprocess.Popen(
            [PY, "manage.py", "qcluster"], cwd=ROOT, env=self.env, stdout=logs, stderr=logs,
            start_new_session=True))
        for _ in range(100):
            try:
                urllib.request.urlopen(self.base + "/healthz", timeout=2).read()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start; see bench/." + self.name + "-server.log")

    def stop(self) -> None:
        # SIGTERM to the leaders only: gunicorn's master and the qcluster stop their own
        # workers (a qcluster whose workers get the signal too waits for the kill below).
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()

    def form_session(self) -> dict[str, str]:
        """A real visitor's page load: the CSRF cookie and token, the signed start time."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        html = opener.open(self.base + "/q/bench/", timeout=10).read().decode()
        hidden = dict(re.findall(r'type="hidden" name="([a-z_]+)" value="([^"]*)"', html))
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        return {"csrf": hidden["csrfmiddlewaretoken"], "started": hidden["started"],
                "cookie": cookie}


def presigned_webhooks(count: int, path: Path) -> Path:
    """Signed webhook requests (wrk cannot compute HMAC): X-Leadcrm-* headers and a JSON body."""
    sys.path.insert(0, str(ROOT))
    now = int(time.time())
    with path.open("w") as out:
        for n in range(count):
            body = json.dumps({"id": f"wh-{n}", "email": f"wh{n}@bench.example",
                               "first_name": "Hook", "company": "Zap Ltd",
                               "message": "From the chat widget"}, separators=(",", ":"))
            digest = hmac.new(WEBHOOK_SECRET.encode(), f"{now}.{body}".encode(),
                              hashlib.sha256).hexdigest()
            out.write(f"X-Leadcrm-Timestamp: {now}\tX-Leadcrm-Signature: sha256={digest}\t"
                      f"X-Leadcrm-Event-Id: wh-{n}\t{body}\n")
    return path


def wrk(url: str, body: str, *, seconds: int, connections: int, env: dict[str, str]) -> dict:
    command = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency",
               "--timeout", "10s", "-s", str(ROOT / "bench" / "wrk" / "post.lua"), url]
    done = subprocess.run(command, env={**os.environ, "BENCH_THREADS": "2", **env,
                                        "BENCH_BODY": body},
                          capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line[len("WRKJSON "):])
    ok = sum(n for code, n in result["codes"].items() if code.startswith(("2", "3")))
    result["ok"] = ok
    result["errors"] = (result["requests"] - ok + result["connect_errors"]
                        + result["read_errors"] + result["write_errors"] + result["timeouts"])
    result["rps"] = ok / (result["duration_us"] / 1e6)
    return result


def form_body(session: dict[str, str], marker: str) -> str:
    fields = {"csrfmiddlewaretoken": session["csrf"], "started": session["started"],
              "submission_id": f"{marker}{{n}}", "first_name": "Bench",
              "email": f"{marker}{{n}}@bench.example", "company": "Load Test Ltd",
              "message": "A quote for 40 servers, please."}
    return urllib.parse.urlencode(fields, safe="{}")


def cpu_ticks(stack: Stack) -> dict[str, int]:
    """CPU ticks used so far by the stack's gunicorn and qcluster (their process groups) and by
    every PostgreSQL backend on the machine (the bench is the database's only client)."""
    groups = {proc.pid: name for proc, name in zip(stack.procs, ("web", "worker"), strict=False)}
    ticks = {"web": 0, "worker": 0, "database": 0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            data = stat.read_text()
        except OSError:
            continue
        comm, rest = data[data.index("(") + 1:data.rindex(")")], data[data.rindex(")") + 2:]
        fields = rest.split()
        name = groups.get(int(fields[2])) or ("database" if comm.startswith("postgres") else "")
        if name:
            ticks[name] += int(fields[11]) + int(fields[12])
    return ticks


def throughput(stack: Stack) -> list[dict]:
    session = stack.form_session()
    env = {"BENCH_COOKIE": session["cookie"], "BENCH_REFERER": stack.base + "/q/bench/"}
    rows = []
    api_body = json.dumps({"first_name": "Api", "email": "api{n}@bench.example",
                           "company": "Partner Co", "message": "From the partner site"})
    signed = presigned_webhooks(int(SECONDS * 1500), Path(tempfile.mkstemp(suffix=".tsv")[1]))
    scenarios = [
        ("bare Django view, one ORM insert (baseline)", "/bench/bare/", "x=1", {}),
        ("public form, full pipeline (real CSRF token)", "/q/bench/",
         form_body(session, "tp"), {}),
        ("JSON API, full pipeline (Bearer key)", "/api/v1/leads/", api_body,
         {"BENCH_AUTH": f"Bearer {stack.api_key}", "BENCH_CTYPE": "application/json"}),
        ("signed webhook, full pipeline (HMAC-SHA256)", "/inbound/webhook/bench/", "",
         {"BENCH_REQUESTS_FILE": str(signed), "BENCH_CTYPE": "application/json"}),
    ]
    wrk(stack.base + "/bench/bare/", "x=1", seconds=2, connections=4, env=env)  # warm up
    hz = os.sysconf("SC_CLK_TCK")
    for label, path, body, extra in scenarios:
        log(f"{stack.name}: throughput {label}")
        before = cpu_ticks(stack)
        row = {"scenario": label, **wrk(stack.base + path, body, seconds=SECONDS,
                                        connections=CONNECTIONS, env={**env, **extra})}
        # Where each request's CPU went during the run (the worker sends the acknowledgements
        # of the leads just taken in, on the same cores).
        after = cpu_ticks(stack)
        row["cpu_ms"] = {k: (after[k] - before[k]) * 1000 / hz / max(row["ok"], 1)
                         for k in after}
        rows.append(row)
    signed.unlink()
    baseline = rows[0]["rps"]
    baseline_cpu = sum(rows[0]["cpu_ms"].values())
    for row in rows:
        row["ratio"] = row["rps"] / baseline if baseline else 0.0
        # The ratio the cores allow: were every core busy and nothing ever waiting (a lock,
        # a commit's flush), the rate would be the cores over the CPU each request costs.
        cpu = sum(row["cpu_ms"].values())
        row["cpu_ceiling"] = baseline_cpu / cpu if cpu else 0.0
    return rows


def wait_for_idle_queue(stack: Stack, limit_s: int = 300) -> float:
    """Wait until the qcluster has worked off what earlier scenarios queued (the throughput
    runs leave thousands of kicks behind): the steady run measures its own leads only.

    The outbox sweeper is left out: it runs back to back by design (each run hands over to
    the next), so its task is always in the queue."""
    code = (
        "from django.utils import timezone\n"
        "from django_q.models import OrmQ\n"
        "from followup.models import OutboundMessage as M\n"
        "due = M.objects.filter(status__in=['scheduled', 'sending'], due_at__lte=timezone.now())"
        ".count()\n"
        "tasks = sum(q.func() != 'followup.tasks.sweep_due_messages' for q in OrmQ.objects.all())\n"
        "print(tasks + due)\n"
    )
    started = time.monotonic()
    while time.monotonic() - started < limit_s and int(stack.script(code) or 0):
        time.sleep(2)
    return time.monotonic() - started


def speed_to_lead(stack: Stack) -> dict:
    drained = wait_for_idle_queue(stack)
    log(f"{stack.name}: the task queue was idle after {drained:.0f}s")
    session = stack.form_session()
    log(f"{stack.name}: speed to lead, {STEADY_RATE}/s for {STEADY_SECONDS}s")
    out = subprocess.run(
        [PY, str(ROOT / "bench" / "steady.py"), stack.base + "/q/bench/", str(STEADY_RATE),
         str(STEADY_SECONDS)],
        input=json.dumps({"body": form_body(session, "steady-"), "cookie": session["cookie"],
                          "referer": stack.base + "/q/bench/"}),
        capture_output=True, text=True, timeout=STEADY_SECONDS + 120, check=True,
    )
    client = json.loads(out.stdout)
    # Let the worker finish what is queued (bounded), then read the outbox's own timestamps.
    code = (
        "import json\n"
        "from followup.models import OutboundMessage as M\n"
        "qs = M.objects.filter(interaction__inbound_event__external_id__startswith='steady-')\n"
        "print(json.dumps({'total': qs.count(), 'sent': qs.filter(status='sent').count()}))\n"
    )
    for _ in range(60):
        counts = json.loads(stack.script(code))
        if counts["sent"] >= counts["total"]:
            break
        time.sleep(1)
    lat = json.loads(stack.script(
        "import json\n"
        "from followup.models import OutboundMessage as M\n"
        "rows = M.objects.filter(interaction__inbound_event__external_id__startswith='steady-',"
        " status='sent').values_list('sent_at', 'interaction__inbound_event__received_at')\n"
        "print(json.dumps([(s - r).total_seconds() for s, r in rows]))\n"
    ))
    # (a) assigned: the routing decision's own timestamp against the event's arrival, both
    # written by the server (the decision commits with the lead, inside the request).
    routed = json.loads(stack.script(
        "import json\n"
        "from capture.models import InboundEvent as E\n"
        "rows = E.objects.filter(external_id__startswith='steady-').values_list("
        "'received_at', 'lead__assessment__routed_at', 'lead__owner_id')\n"
        "print(json.dumps([[(r - e).total_seconds() if r else None, o is not None]"
        " for e, r, o in rows]))\n"
    ))
    assigned = [delay for delay, owned in routed if owned and delay is not None]
    return {"client": client, "ack": summarise(lat), "ack_total": counts["total"],
            "ack_sent": counts["sent"], "assigned": summarise(assigned),
            "assigned_count": len(assigned), "routed_total": len(routed)}


def summarise(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    values = sorted(values)

    def pct(p: float) -> float:
        return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]

    return {"n": len(values), "p50": pct(50), "p95": pct(95), "p99": pct(99),
            "max": values[-1], "mean": statistics.fmean(values)}


def rep_session(stack: Stack) -> tuple[int, str]:
    """A rep and a signed-in session for the queue page (made directly, no login form)."""
    out = stack.script(
        "from django.conf import settings\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY\n"
        "from django.contrib.auth.models import User\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "u, _ = User.objects.get_or_create(username='benchrep', defaults={'first_name': 'Bench'})\n"
        "s = SessionStore()\n"
        "s[SESSION_KEY] = str(u.pk)\n"
        "s[BACKEND_SESSION_KEY] = next(b for b in settings.AUTHENTICATION_BACKENDS"
        " if b.endswith('ModelBackend'))\n"
        "s[HASH_SESSION_KEY] = u.get_session_auth_hash()\n"
        "s.create()\n"
        "print(u.pk, s.session_key)\n"
    )
    user_id, key = out.split()
    return int(user_id), f"sessionid={key}"


def flat_cost(stack: Stack) -> dict:
    """Intake and queue-page latency at low load with 10k leads, then with BIG_LEADS leads."""
    session = stack.form_session()
    env = {"BENCH_COOKIE": session["cookie"], "BENCH_REFERER": stack.base + "/q/bench/"}
    rep_id, rep_cookie = rep_session(stack)
    result = {}
    for size in (10_000, BIG_LEADS):
        log(f"{stack.name}: filling to {size:,} leads")
        owners = ",".join(str(i) for i in [rep_id, *stack.routed_rep_ids])
        fill = subprocess.run([PY, str(ROOT / "bench" / "fill_leads.py"), str(size),
                               owners], cwd=ROOT, env=stack.env, capture_output=True,
                              text=True, timeout=3600, check=False)
        if fill.returncode:
            raise RuntimeError(f"fill_leads.py failed:\n{fill.stderr[-3000:]}")
        log(fill.stdout.strip())
        # Both sizes measured alike: the worker idle (no acknowledgements of earlier leads
        # being sent on the same cores), the fill on disk (fill_leads.py ends with a CHECKPOINT).
        wait_for_idle_queue(stack)
        run = wrk(stack.base + "/q/bench/", form_body(session, f"flat{size}-"),
                  seconds=SECONDS, connections=2, env=env)
        queue = wrk(stack.base + "/queue/", "", seconds=SECONDS, connections=2,
                    env={"BENCH_METHOD": "GET", "BENCH_COOKIE": rep_cookie})
        result[str(size)] = {"p50_ms": run["p50_us"] / 1000, "p99_ms": run["p99_us"] / 1000,
                             "rps": run["rps"], "errors": run["errors"],
                             "queue_p50_ms": queue["p50_us"] / 1000,
                             "queue_p99_ms": queue["p99_us"] / 1000,
                             "queue_errors": queue["errors"], "queue_codes": queue["codes"]}
    result["pages"] = pages(stack, rep_id)
    small, big = result["10000"], result[str(BIG_LEADS)]
    result["ratio_p50"] = big["p50_ms"] / small["p50_ms"] if small["p50_ms"] else None
    result["queue_ratio_p50"] = (big["queue_p50_ms"] / small["queue_p50_ms"]
                                 if small["queue_p50_ms"] else None)
    return result


def pages(stack: Stack, rep_id: int) -> dict:
    """The queue, lead and dashboard pages on the filled database (routing's bench_pages):
    the bench rep in a team led by a manager, and a superuser for every team's dashboard."""
    log(f"{stack.name}: pages on {BIG_LEADS:,} leads (bench_pages --runs 5)")
    stack.script(
        "from django.contrib.auth.models import User\n"
        "from routing.models import RepProfile, Team, TeamMembership\n"
        "manager, _ = User.objects.get_or_create(username='benchmanager')\n"
        "team, _ = Team.objects.get_or_create(name='Bench team', defaults={'lead': manager})\n"
        f"rep, _ = RepProfile.objects.get_or_create(user_id={int(rep_id)})\n"
        "TeamMembership.objects.get_or_create(team=team, rep=rep)\n"
        "User.objects.filter(username='benchadmin').exists() or User.objects.create_superuser("
        "'benchadmin', 'benchadmin@example.com', None)\n"
        "print('ok')\n")
    report = json.loads(stack.manage("bench_pages", "--runs", "5", "--json")
                        .strip().splitlines()[-1])
    report["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return report


def rules(stack: Stack) -> list[dict]:
    """Score + route one lead with 10, 100 and 1,000 rules (routing's own bench command)."""
    rows = []
    for count in (10, 100, 1000):
        log(f"{stack.name}: rules, {count} scoring + {max(1, count // 5)} routing")
        out = stack.manage("bench_rules", "--scoring", str(count), "--routing",
                           str(max(1, count // 5)), "--leads", "100")
        rows.append({"scoring_rules": count, "routing_rules": max(1, count // 5),
                     **json.loads(out.strip().splitlines()[-1])})
    return rows


def sla_timers(stack: Stack) -> dict:
    """Alert lag for many open leads whose deadlines fall due (followup's bench script)."""
    log(f"{stack.name}: SLA timers ({os.environ.get('BENCH_SLA_LEADS', '100000')} leads)")
    done = subprocess.run([PY, str(ROOT / "bench" / "sla_timers.py")], cwd=ROOT,
                          env=stack.env, capture_output=True, text=True, timeout=3600,
                          check=False)
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), "")
    if not line:
        raise RuntimeError(f"sla_timers.py gave no result:\n{done.stderr[-3000:]}")
    return json.loads(line)


def custom_fields(stack: Stack) -> dict:
    """Filtering by a custom field on BIG_LEADS leads under four index setups
    (bench/custom_fields.py; the flat-cost part has filled the database already)."""
    log(f"{stack.name}: custom field filters on {BIG_LEADS:,} leads")
    done = subprocess.run([PY, str(ROOT / "bench" / "custom_fields.py"), str(BIG_LEADS)],
                          cwd=ROOT, env=stack.env, capture_output=True, text=True,
                          timeout=7200, check=False)
    line = next((ln for ln in reversed(done.stdout.splitlines()) if ln.startswith("{")), "")
    if not line:
        raise RuntimeError(f"custom_fields.py gave no result:\n{done.stderr[-3000:]}")
    return json.loads(line)


def run_database(name: str) -> dict | None:
    workdir = Path(tempfile.mkdtemp(prefix=f"leadcrm-bench-{name}-"))
    if name == "sqlite":
        url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    else:
        db = "leadcrm_bench"
        try:
            subprocess.run(["psql", f"{PG_URL}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db}",
                            "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True,
                           timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            log(f"PostgreSQL at {PG_URL} is not available ({exc}); skipped")
            return None
        url = f"{PG_URL}/{db}"
    stack = Stack(name, url)
    log(f"{name}: migrating")
    stack.prepare()
    stack.start()
    try:
        result = {"database": name, "throughput": throughput(stack)}
        if "steady" in PARTS:
            result["speed_to_lead"] = speed_to_lead(stack)
        if name == "postgres" and "flat" in PARTS:
            result["flat_cost"] = flat_cost(stack)
        if "rules" in PARTS:
            result["rules"] = rules(stack)
    finally:
        stack.stop()
    try:
        if name == "postgres" and "sla" in PARTS:  # runs its own qclusters
            result["sla_timers"] = sla_timers(stack)
        if name == "postgres" and "custom" in PARTS:
            result["custom_fields"] = custom_fields(stack)
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, Python {platform.python_version()}"


def write_results(results: list[dict]) -> None:
    lines = [
        "# leadcrm benchmark", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {machine()}; gunicorn "
        f"{GUNICORN_WORKERS} sync workers + one qcluster (2 workers); load from wrk "
        f"({CONNECTIONS} connections, {SECONDS}s per scenario) and bench/steady.py. Rule "
        "set: the demo's (seed_demo: scoring rules and tiers, five routing rules, round-robin "
        "over the demo team with the reps' rows locked, deadlines and alerts, a follow-up "
        "sequence), the reps' 25-lead capacity lifted.", "",
        "## Intake throughput (ratio against the bare view in the same run; target ≥ 0.5)", "",
        "| database | scenario | leads/s | ratio | errors | p50 ms | p99 ms | CPU ms per "
        "request: web / worker / database | ratio the CPU allows |",
        "|---|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        for row in r["throughput"]:
            cpu = row.get("cpu_ms")
            split = (f"{cpu['web']:.1f} / {cpu['worker']:.1f} / "
                     f"{cpu['database']:.1f}" if cpu else "")
            lines.append(f"| {r['database']} | {row['scenario']} | {row['rps']:.0f} | "
                         f"{row['ratio']:.2f} | {row['errors']} | {row['p50_us'] / 1000:.1f} | "
                         f"{row['p99_us'] / 1000:.1f} | {split} | "
                         f"{row.get('cpu_ceiling', 0):.2f} |")
    lines += ["", "Ratio the CPU allows: the bare view's CPU per request (web + worker + "
              "database) over the scenario's, the ratio if the two cores were the only limit. "
              "A measured ratio below it is time spent waiting: SQLite's one writer at a "
              "time, a row lock, a commit's flush.",
              "", f"## Speed to lead ({STEADY_RATE} leads/s for {STEADY_SECONDS}s; "
              "target: assigned within the request, acknowledged p99 < 2 s)", "",
              "| database | sent/offered | request p50 / p95 / p99 ms | errors | "
              "assigned after arrival p50 / p99 / max ms (leads assigned) | "
              "acknowledgement handed to the email backend p50 / p95 / p99 / max s |",
              "|---|---:|---|---:|---|---|"]
    for r in (r for r in results if "speed_to_lead" in r):
        s = r["speed_to_lead"]
        c, a = s["client"], s["ack"]
        ack = (f"{a['p50']:.2f} / {a['p95']:.2f} / {a['p99']:.2f} / {a['max']:.2f} "
               f"({s['ack_sent']}/{s['ack_total']} sent)") if a.get("n") else "none"
        g = s.get("assigned") or {}
        assigned = (f"{g['p50'] * 1000:.1f} / {g['p99'] * 1000:.1f} / {g['max'] * 1000:.1f} "
                    f"({s['assigned_count']}/{s['routed_total']})") if g.get("n") else "none"
        lines.append(f"| {r['database']} | {c['sent']}/{c['offered']} | "
                     f"{c['p50_ms']:.1f} / {c['p95_ms']:.1f} / {c['p99_ms']:.1f} | "
                     f"{c['errors']} | {assigned} | {ack} |")
    for r in results:
        if "flat_cost" in r:
            f = r["flat_cost"]
            lines += ["", "## Flat cost as data grows (PostgreSQL; target ratio ≤ 1.2)", "",
                      "| leads in the database | intake p50 ms | intake p99 ms | "
                      "queue page p50 ms | queue page p99 ms | queue errors |",
                      "|---:|---:|---:|---:|---:|---:|"]
            for size in ("10000", str(BIG_LEADS)):
                lines.append(f"| {int(size):,} | {f[size]['p50_ms']:.1f} | "
                             f"{f[size]['p99_ms']:.1f} | {f[size]['queue_p50_ms']:.1f} | "
                             f"{f[size]['queue_p99_ms']:.1f} | {f[size]['queue_errors']} |")
            lines.append(f"\nRatio of p50 ({int(BIG_LEADS):,} / 10,000): intake "
                         f"**{f['ratio_p50']:.2f}**, queue page **{f['queue_ratio_p50']:.2f}** "
                         "(one lead in 50 belongs to the rep whose queue is loaded, one in 50 "
                         "to each rep the intake routes to).")
            if "pages" in f:
                p = f["pages"]
                lines += ["", f"## Pages on {p['leads']:,} leads (PostgreSQL, server time "
                          f"in-process, median of {p['runs']} runs)", "",
                          f"bench_pages as {p['rep']} ({p['rep_open_leads']:,} open leads), "
                          "the manager of that rep's team, and a superuser; load average "
                          f"{' / '.join(map(str, p['load_average']))} after the run.", "",
                          "| page | ms | target | queries |", "|---|---:|---:|---:|"]
                for row in p["pages"]:
                    met = "" if row["median_ms"] < row["target_ms"] else " (over)"
                    lines.append(f"| {row['page']} | {row['median_ms']:.1f}{met} | "
                                 f"< {row['target_ms']:,} | {row['queries']} |")
    for r in (r for r in results if "rules" in r):
        lines += ["", f"## Rules: score + route one lead ({r['database']})", "",
                  "| scoring rules | routing rules | queries per lead | engines p50 / p99 ms | "
                  "whole service p50 / p99 ms |", "|---:|---:|---:|---|---|"]
        for row in r["rules"]:
            lines.append(f"| {row['scoring_rules']} | {row['routing_rules']} | "
                         f"{', '.join(map(str, row.get('queries_per_lead') or ['?']))} | "
                         f"{_ms(row, 'engines')} | {_ms(row, 'service')} |")
    for r in (r for r in results if "sla_timers" in r):
        t = r["sla_timers"]
        lines += ["", "## SLA timers (PostgreSQL; target: every alert within 60 s of its due "
                  "time)", "",
                  f"{t['leads']:,} open leads, deadlines spread over {t['spread_seconds']} s, "
                  f"{t['clusters']} qcluster nodes x {t['workers_per_cluster']} workers: "
                  f"{t['sent']:,} alerts sent, {t['not_sent']} not sent; lag p50 "
                  f"{t['p50_lag_seconds']} s, p99 **{t['p99_lag_seconds']} s**, max "
                  f"**{t['max_lag_seconds']} s**."]
    for r in (r for r in results if "custom_fields" in r):
        c = r["custom_fields"]
        setups = c["setups"]
        lines += ["", f"## Filtering by a custom field (PostgreSQL, {c['leads']:,} leads, "
                  f"{c['answered']:,} answering; p50 of {c['runs']} runs, ms)", "",
                  "| query | " + " | ".join(s["setup"] for s in setups) + " |",
                  "|---|" + "---:|" * len(setups)]
        for label in setups[0]["queries"]:
            lines.append(f"| {label} | " + " | ".join(
                f"{s['queries'][label]['p50_ms']:.1f}" for s in setups) + " |")
        for s in setups:
            built = ", ".join(f"{n} {i['size_mb']} MB in {i['build_s']} s"
                              for n, i in s["indexes"].items()) or "none"
            lines.append(f"\n{s['setup']}: {built}.")
    (ROOT / "bench" / "results.md").write_text("\n".join(lines) + "\n")
    (ROOT / "bench" / "results.json").write_text(json.dumps(
        {"machine": machine(), "results": results}, indent=2) + "\n")


def _ms(row: dict, prefix: str) -> str:
    """'p50 / p99' of one of bench_rules' timings."""
    value = row.get(f"{prefix}_ms") or {}
    return f"{value.get('p50', '?')} / {value.get('p99', '?')}"


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("make bench needs wrk (Debian: apt-get install -y wrk)")
    results = [r for name in DATABASES if (r := run_database(name.strip()))]
    previous = ROOT / "bench" / "results.json"
    if os.environ.get("BENCH_KEEP") == "1" and previous.exists():
        # BENCH_KEEP=1: keep the last run's figures for the parts and databases this run left
        # out (each part is measured against its own baseline, so parts can be rerun alone).
        fresh = {r["database"]: r for r in results}
        for old in json.loads(previous.read_text())["results"]:
            if old["database"] in fresh:
                for part, figures in old.items():
                    fresh[old["database"]].setdefault(part, figures)
            else:
                fresh[old["database"]] = old
        results = [fresh[name] for name in ("sqlite", "postgres") if name in fresh]
    write_results(results)
    print((ROOT / "bench" / "results.md").read_text())


if __name__ == "__main__":
    main()
