"""leadcrm settings: all from the environment, with defaults that run on a fresh machine."""

import zoneinfo
from pathlib import Path

import environ
import phonenumbers
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class Env(environ.Env):
    """A number that does not read as one stops the start naming its variable."""

    def int(self, var, default=environ.Env.NOTSET):
        try:
            return super().int(var, default=default)
        except ValueError:
            raise ImproperlyConfigured(f"{var}={self.str(var)!r}: use a number.") from None

    def float(self, var, default=environ.Env.NOTSET):
        try:
            return super().float(var, default=default)
        except ValueError:
            raise ImproperlyConfigured(f"{var}={self.str(var)!r}: use a number.") from None


env = Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def one_of(name: str, default: str, choices: tuple[str, ...]) -> str:
    """A setting with a few documented values: any other is refused at start-up, not read as
    the default."""
    value = env.str(name, default=default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r}: use one of {', '.join(choices)}.")
    return value


DEBUG = env.bool("DEBUG", default=False)
# Error reports leave out a request body Django refused to read (leadcrm/urls.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "leadcrm.urls.ExceptionReporterFilter"
# The default key is only good for a laptop; production sets SECRET_KEY (README, "Production"):
# `manage.py check --deploy` fails while it is the default (capture/checks.py).
DEVELOPMENT_SECRET_KEY = "insecure-dev-key-change-me-" + "0" * 32
SECRET_KEY = env.str("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "bootstrap",  # django-bootstrap-static: Bootstrap 5 files served from our own origin
    "crispy_forms",
    "crispy_bootstrap5",
    "django_filters",
    "django_q",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # single-use backup codes for a lost phone
    "capture",
    "routing",
    "followup",
    "chat",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "capture.memo.RequestMemoMiddleware",  # the rule set's version: read once per request
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "capture.security.LoginRateLimitMiddleware",  # sign-in posts per client IP: 429 past it
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "capture.security.TwoFactorMiddleware",  # superusers and sales ops: TOTP before any page
    "routing.timezones.RepTimezoneMiddleware",  # a rep's pages in the rep's own time zone
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "leadcrm.urls"
WSGI_APPLICATION = "leadcrm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite is the embedded default; DATABASE_URL=postgres://... for production and CI.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Tuned so gunicorn and qcluster share one file without "database is locked" (DESIGN.md);
    # our backend queues the writers on a file lock (leadcrm/db/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "leadcrm.db.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache: Redis when REDIS_URL is set (rate limits hold across processes), else per process --
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Task queue (django-q2): ORM broker on `default` unless TASK_BROKER=redis ---------------------
Q_CLUSTER = {
    "name": "leadcrm",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 180,  # always above timeout
    "max_attempts": 5,
    "catch_up": False,
    "ack_failures": False,
    # No success rows: the outbox rows record what was sent; failures are still kept.
    "save_limit": -1,
    "poll": 0.2,
    "orm": "default",
    "sync": env.bool("Q_SYNC", default=False),
}
TASK_BROKER = one_of("TASK_BROKER", "orm", ("orm", "redis"))
if TASK_BROKER == "redis":
    if not REDIS_URL:
        raise ImproperlyConfigured("TASK_BROKER=redis needs REDIS_URL.")
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = REDIS_URL

# --- Email ----------------------------------------------------------------------------------
try:
    EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
except ImproperlyConfigured:  # it said only "Invalid email schema smtp2", naming no variable
    raise ImproperlyConfigured(f"EMAIL_URL={env.str('EMAIL_URL')!r}: use an email URL such as "
                               "smtp+tls://user:password@host:587 or consolemail://.") from None
# Query options: `timeout` (seconds), and django-environ's own email_use_tls / email_use_ssl.
# Others went to a stray OPTIONS setting that nothing read: a misspelt `?timeout=` was ignored.
_email_options = EMAIL_CONFIG.pop("OPTIONS", {})
EMAIL_TIMEOUT = _email_options.pop("TIMEOUT", None)
try:
    EMAIL_TIMEOUT = None if EMAIL_TIMEOUT is None else float(EMAIL_TIMEOUT)
except ValueError:
    raise ImproperlyConfigured(f"EMAIL_URL option timeout={EMAIL_TIMEOUT!r}: use a number of "
                               "seconds.") from None
if _email_options:
    raise ImproperlyConfigured(f"EMAIL_URL option {next(iter(_email_options)).lower()!r} is not "
                               "known: use ?timeout=SECONDS, or set EMAIL_TIMEOUT.")
vars().update(EMAIL_CONFIG)
# Seconds an SMTP server may take to answer. Without a limit a server that takes the
# connection and says nothing (a firewall, the wrong port) held each worker until django-q2
# killed it (Q_CLUSTER timeout, 60 s), and the rows it held stayed "sending" with no error;
# with one the send fails with "timed out", is retried, and staff see why.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=EMAIL_TIMEOUT or 20)
if not 0 < EMAIL_TIMEOUT < Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured(f"EMAIL_TIMEOUT={EMAIL_TIMEOUT:g}: use a number of seconds above "
                               f"0 and under the worker's task timeout ({Q_CLUSTER['timeout']}).")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="leadcrm <sales@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
try:
    zoneinfo.ZoneInfo(TIME_ZONE)
except (zoneinfo.ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(f"TIME_ZONE={TIME_ZONE!r}: use a time zone name such as UTC or "
                               "Europe/Berlin.") from None
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Serve straight from the apps' static folders when collectstatic has not run (a fresh machine).
WHITENOISE_USE_FINDERS = True

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security (production values come from the environment; README "Production") ------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# A load balancer checks gunicorn itself over plain HTTP: /healthz answers it, not a redirect.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
X_FRAME_OPTIONS = "DENY"
# Django's limit for form posts (the public forms, the admin, ESP webhooks). The provider
# webhooks are not held to it: each reads its body up to its channel's own max_body
# (capture/channels/base.py read_body; Meta's is 1 MiB).
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

# --- leadcrm --------------------------------------------------------------------------------
# Region used to read a phone number written without +country code, unless a form sets its own.
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US").strip().upper()
if PHONE_DEFAULT_REGION and PHONE_DEFAULT_REGION not in phonenumbers.SUPPORTED_REGIONS:
    # "UK" (GB is the code) would refuse every local number with "Add the country code".
    raise ImproperlyConfigured(f"PHONE_DEFAULT_REGION={PHONE_DEFAULT_REGION!r}: use a two-letter "
                               "region phone numbers know, such as US, GB or DE.")
# What a submission matching a closed (won/lost/disqualified) lead does: "link" makes a new lead
# linked to the closed one; "reopen" puts the closed lead back to "new".
CLOSED_LEAD_MATCH = one_of("CLOSED_LEAD_MATCH", "link", ("link", "reopen"))
# Public form submissions per IP address per form, per minute (Django's cache; see README).
FORM_RATE_LIMIT_PER_MINUTE = env.int("FORM_RATE_LIMIT_PER_MINUTE", default=10)
# Provider webhooks (/inbound/...): requests per sending IP per channel per minute; 0 = no limit.
WEBHOOK_RATE_LIMIT_PER_MINUTE = env.int("WEBHOOK_RATE_LIMIT_PER_MINUTE", default=600)
# Public base URL used in emails and embed snippets.
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "filters": {"without_enqueued": {"()": "leadcrm.logfilters.WithoutEnqueued"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"},
                "django-q": {"filters": ["without_enqueued"]}},
}
# make bench mounts its baseline view (/bench/bare/) only with this on.
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)
# Behind a proxy, read the client IP from X-Forwarded-For: the entry TRUSTED_PROXIES from its end
# (each proxy appends the address it saw; what a client writes at the start is never trusted).
USE_X_FORWARDED_FOR = env.bool("USE_X_FORWARDED_FOR", default=False)
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=1)
if TRUSTED_PROXIES < 1:
    raise ImproperlyConfigured(f"TRUSTED_PROXIES={TRUSTED_PROXIES}: use the number of proxies "
                               "in front of leadcrm that add to X-Forwarded-For (1 or more).")

# --- channels (capture/channels/; docs/channels.md) ------------------------------------------
# Provider secrets: empty means the channel refuses every request (403) until it is set.
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
# The public base URL Twilio calls (https://crm.example.com) when a proxy changes host or scheme.
TWILIO_WEBHOOK_BASE_URL = env.str("TWILIO_WEBHOOK_BASE_URL", default="")
META_APP_SECRET = env.str("META_APP_SECRET", default="")
META_VERIFY_TOKEN = env.str("META_VERIFY_TOKEN", default="")
META_PAGE_ACCESS_TOKEN = env.str("META_PAGE_ACCESS_TOKEN", default="")
META_GRAPH_URL = env.str("META_GRAPH_URL", default="https://graph.facebook.com/v21.0")
CALENDLY_SIGNING_KEY = env.str("CALENDLY_SIGNING_KEY", default="")
# Social and messengers (docs/channels.md): Telegram's setWebhook secret_token and bot token,
# Slack's signing secret (and the channels taken in; empty: every channel the app is in), the
# X app's consumer secret (CRC and signatures), and the send APIs' tokens and base URLs.
TELEGRAM_WEBHOOK_SECRET = env.str("TELEGRAM_WEBHOOK_SECRET", default="")
TELEGRAM_BOT_TOKEN = env.str("TELEGRAM_BOT_TOKEN", default="")
TELEGRAM_API_URL = env.str("TELEGRAM_API_URL", default="https://api.telegram.org")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_CHANNEL_IDS = env.list("SLACK_CHANNEL_IDS", default=[])
X_CONSUMER_SECRET = env.str("X_CONSUMER_SECRET", default="")
WHATSAPP_ACCESS_TOKEN = env.str("WHATSAPP_ACCESS_TOKEN", default="")
WHATSAPP_PHONE_NUMBER_ID = env.str("WHATSAPP_PHONE_NUMBER_ID", default="")
# Outside WhatsApp's 24-hour customer-service window only an approved template may be sent.
WHATSAPP_TEMPLATE_NAME = env.str("WHATSAPP_TEMPLATE_NAME", default="")
WHATSAPP_TEMPLATE_LANGUAGE = env.str("WHATSAPP_TEMPLATE_LANGUAGE", default="en_US")
# Instagram replies go through the Send API with the Page token linked to the account.
INSTAGRAM_ACCESS_TOKEN = env.str("INSTAGRAM_ACCESS_TOKEN", default="")
# Signed webhooks and Calendly: requests older than this are replays.
WEBHOOK_TOLERANCE_SECONDS = env.int("WEBHOOK_TOLERANCE_SECONDS", default=300)
# Inbound email by IMAP (the poller runs every IMAP_POLL_MINUTES when IMAP_HOST is set).
IMAP_HOST = env.str("IMAP_HOST", default="")
IMAP_PORT = env.int("IMAP_PORT", default=993)
IMAP_SSL = env.bool("IMAP_SSL", default=True)
IMAP_USER = env.str("IMAP_USER", default="")
IMAP_PASSWORD = env.str("IMAP_PASSWORD", default="")
IMAP_FOLDER = env.str("IMAP_FOLDER", default="INBOX")
IMAP_POLL_MINUTES = env.int("IMAP_POLL_MINUTES", default=1)
# Our own addresses (mail from them is never a lead), besides DEFAULT_FROM_EMAIL and the admin.
EMAIL_OWN_ADDRESSES = env.list("EMAIL_OWN_ADDRESSES", default=[])
# Inbound email through django-anymail's webhooks at /inbound/email/<esp>/inbound/:
# ANYMAIL_WEBHOOK_SECRET is the "user:password" basic auth put in the ESP's webhook URL; any
# other ANYMAIL_<SETTING> variable becomes that anymail setting (ANYMAIL_POSTAL_WEBHOOK_KEY).
ANYMAIL = {name.removeprefix("ANYMAIL_"): value for name, value in env.ENVIRON.items()
           if name.startswith("ANYMAIL_") and value}
if env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default=""):
    ANYMAIL.setdefault("MAILGUN_WEBHOOK_SIGNING_KEY", env.str("MAILGUN_WEBHOOK_SIGNING_KEY"))
# ESPs post whole messages (attachments too) in one request: raise this (bytes) when inbound
# mail with attachments is answered 413; the default keeps the limit set above.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE",
                                      default=DATA_UPLOAD_MAX_MEMORY_SIZE)

# --- follow-up (followup/; docs/followup.md) -------------------------------------------------
# CAN-SPAM: every sequence email carries the sender's postal address and an unsubscribe link.
COMPANY_POSTAL_ADDRESS = env.str("COMPANY_POSTAL_ADDRESS",
                                 default="leadcrm demo, 1 Example Street, Springfield, USA")
# SMS through Twilio's REST API: all three set, or no SMS is sent (owner alerts stay email).
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
# Empty: Twilio itself. Tests point it at a local stub; never a real account in tests.
TWILIO_API_BASE_URL = env.str("TWILIO_API_BASE_URL", default="")
TWILIO_STATUS_CALLBACK_URL = env.str("TWILIO_STATUS_CALLBACK_URL", default="")
# Tiers whose owner is also texted on assignment (when the rep has a mobile number).
FOLLOWUP_SMS_ALERT_TIERS = env.list("FOLLOWUP_SMS_ALERT_TIERS", default=["hot"])
# A sequence step or SLA warning found this late (a worker was down) is skipped and recorded.
FOLLOWUP_STALE_AFTER_HOURS = env.int("FOLLOWUP_STALE_AFTER_HOURS", default=12)
# How long one run of the one-minute sweeper keeps claiming due rows (seconds): at least
# FOLLOWUP_SWEEP_SECONDS (0: one pass), then until the next run is queued, at most
# FOLLOWUP_SWEEP_MAX_SECONDS (its task's timeout is SWEEP_TIMEOUT_S in followup/schedules.py).
FOLLOWUP_SWEEP_SECONDS = env.int("FOLLOWUP_SWEEP_SECONDS", default=50)
FOLLOWUP_SWEEP_MAX_SECONDS = env.int("FOLLOWUP_SWEEP_MAX_SECONDS", default=110)
# A process queues at most one send kick per this many ms; the rows written in between go out
# with the next kick (it takes every due row, up to 50) or the sweeper. 0: a kick per row.
FOLLOWUP_KICK_INTERVAL_MS = env.int("FOLLOWUP_KICK_INTERVAL_MS", default=250)

# --- accounts (routing/urls.py: /accounts/, /queue/, /leads/<id>/, /dashboard/; docs/queue.md) --
# Reps and managers sign in at /accounts/login/ (Django auth); the admin keeps its own page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "routing:home"  # each role's page: the queue, the dashboard, the admin
LOGOUT_REDIRECT_URL = "login"
# django-axes: after AXES_FAILURE_LIMIT failed logins for one username from one IP address, that
# pair is locked out for AXES_COOLOFF_HOURS (the attempts live in the database, so the lock holds
# across processes). Tests sign in with force_login, which axes does not see.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["axes.middleware.AxesMiddleware"]  # last, as axes asks
AUTHENTICATION_BACKENDS = [
    "routing.backends.LoginLockBackend",  # axes, first: a locked-out login stops here
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The sign-in lock reads the client's address as every limit does (USE_X_FORWARDED_FOR).
AXES_CLIENT_IP_CALLABLE = "capture.abuse.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The signed-in pages' menu shows the dashboard to managers and sales ops only.
TEMPLATES[0]["OPTIONS"]["context_processors"].append("routing.context_processors.pages")
# ... and every signed-in page's menu counts the user's unread notifications (the queue lists them).
TEMPLATES[0]["OPTIONS"]["context_processors"].append("followup.context_processors.notifications")
# The queue page asks for newly assigned leads this often (seconds).
QUEUE_POLL_SECONDS = env.int("QUEUE_POLL_SECONDS", default=15)
# Password-reset links are valid this long (seconds); mail goes through EMAIL_URL's backend.
PASSWORD_RESET_TIMEOUT = env.int("PASSWORD_RESET_TIMEOUT", default=3 * 24 * 3600)
# Reset emails an hour per client IP and per email address (capture/security_views.py): past
# either, the same "check your email" page, and nothing is sent. 0 turns a limit off.
PASSWORD_RESET_RATE_PER_IP = env.int("PASSWORD_RESET_RATE_PER_IP", default=10)
PASSWORD_RESET_RATE_PER_EMAIL = env.int("PASSWORD_RESET_RATE_PER_EMAIL", default=3)
# Failed sign-ins (/accounts/login/, /admin/login/) a minute per client IP, whatever the username:
# the login lock counts per username and IP, so one address could try a few passwords on every
# username there is (capture.security.LoginRateLimitMiddleware). 0 turns it off.
LOGIN_RATE_PER_IP = env.int("LOGIN_RATE_PER_IP", default=20)

# Live chat (chat/): the widget's polling, limits and the visitor token's lifetime.
CHAT_POLL_SECONDS = env.int("CHAT_POLL_SECONDS", default=3)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=2000)
CHAT_RATE_PER_IP = env.int("CHAT_RATE_PER_IP", default=30)  # messages a minute
CHAT_RATE_PER_VISITOR = env.int("CHAT_RATE_PER_VISITOR", default=12)
CHAT_POLL_RATE_PER_IP = env.int("CHAT_POLL_RATE_PER_IP", default=600)
CHAT_TOKEN_DAYS = env.int("CHAT_TOKEN_DAYS", default=30)
# A chat whose visitor wrote nothing this long is closed as abandoned (chat.tasks, every five
# minutes): it leaves the waiting-chats box; their next message reopens it. 0 keeps chats open.
CHAT_ABANDONED_MINUTES = env.int("CHAT_ABANDONED_MINUTES", default=30)
CHAT_DEMO_WIDGET = "Demo website chat"
# LinkedIn Lead Gen Forms (capture/channels/linkedin.py)
LINKEDIN_CLIENT_SECRET = env.str("LINKEDIN_CLIENT_SECRET", default="")
LINKEDIN_ACCESS_TOKEN = env.str("LINKEDIN_ACCESS_TOKEN", default="")
LINKEDIN_API_URL = env.str("LINKEDIN_API_URL", default="https://api.linkedin.com/rest")
LINKEDIN_API_VERSION = env.str("LINKEDIN_API_VERSION", default="202505")

# --- privacy and account security (capture/privacy.py, capture/security.py; docs/privacy.md) --
# The key of the salted hashes an erased person's email and phone are kept as. Keep it when
# SECRET_KEY is rotated (set it explicitly then), or erased people are no longer recognised.
PRIVACY_HASH_KEY = env.str("PRIVACY_HASH_KEY", default="privacy:" + SECRET_KEY)

# Content-Security-Policy (django-csp 4) on every page: no inline script or style anywhere; a
# template that must inline a script uses nonce="{{ request.csp_nonce }}". Nothing is framed
# except the public form pages, which allow their form's allowed origins (capture/security.py).
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],  # Bootstrap draws its form icons as data: SVGs
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "object-src": [NONE],
    },
}
# Cookies: HttpOnly (no script reads them), SameSite, Secure with SECURE_COOKIES (above).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Iframes on other sites over HTTPS need None (README, "Putting the form on your site").
CSRF_COOKIE_SAMESITE = env.str("CSRF_COOKIE_SAMESITE", default="Lax")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Staff sessions end after SESSION_HOURS (signed-in pages and the admin); "log out everywhere"
# ends all of a user's sessions at once (/accounts/security/).
SESSION_COOKIE_AGE = int(env.float("SESSION_HOURS", default=12) * 3600)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=False)
# Two-factor sign-in (django-otp TOTP; /accounts/two-factor/): required for superusers and
# these groups, and for anyone who has enrolled a device; enrolment is open to every user.
TWO_FACTOR_REQUIRED_GROUPS = env.list("TWO_FACTOR_REQUIRED_GROUPS", default=["Sales ops"])
OTP_TOTP_ISSUER = env.str("OTP_TOTP_ISSUER", default="leadcrm")
