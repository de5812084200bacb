"""Settings, read from the environment (ARCHITECTURE §5). Every variable is optional; defaults are safe."""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("KB_DATA_DIR") or BASE_DIR / "data").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def generated_secret_key(data_dir: Path) -> str:
    """The key is made once and kept beside the data, so sessions survive restarts."""
    path = data_dir / "secret_key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or generated_secret_key(DATA_DIR)
DEBUG = env_flag("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "kb",
    "snapshots",
    "lossdemos",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "taggit",
    "django_tasks",
    "django_tasks_db",
    # django-ninja's own Swagger UI files (/api/docs works offline, under the site CSP).
    "ninja",
    "template_partials",
    "csp",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # before anything reads the body: a body is refused by its declared size, unread
    "kb.middleware.RefuseOversizedBodies",
    "kb.middleware.RejectNulCharacters",
    # outside everything that queries the database (sessions, the user, CSRF, the views)
    "kb.middleware.AnswerAgainWhenTheDatabaseConnectionIsLost",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "kb.middleware.UserSettingsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "kb.middleware.FirstUserSetupMiddleware",
    "kb.middleware.ApiErrorsAsJson",
    # last, as django-axes asks: it turns a locked-out sign-in into kb.accounts' refusal page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kb.urls"
WSGI_APPLICATION = "kb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "kb.context_processors.user_settings",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("KB_DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrade deadlocks.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (kb/accounts.py): 10 failures for one account, or from one address, refuse every
# attempt there, the right password too, for 15 minutes after the last one.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "kb.accounts.client_address"
AXES_LOCKOUT_CALLABLE = "kb.accounts.sign_in_locked_out"
AXES_VERBOSE = False
# How many reverse proxies in front of kb append to X-Forwarded-For (0: use the connection's address).
KB_PROXY_COUNT = int(os.environ.get("KB_PROXY_COUNT", "0") or 0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "kb" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("KB_STATIC_ROOT") or BASE_DIR / "staticfiles")

# Stored archives go through Django's storage API: files under KB_DATA_DIR/blobs by default, or an
# S3-compatible bucket (AWS S3, MinIO, Cloudflare R2, Ceph...) with
# KB_STORAGE_BACKEND=storages.backends.s3.S3Storage and the AWS_* variables read below (README,
# "S3-compatible storage"); kb.checks says which variable is missing before anything starts.
KB_STORAGE_BACKEND = (
    os.environ.get("KB_STORAGE_BACKEND") or "django.core.files.storage.FileSystemStorage"
)
S3_STORAGE_BACKENDS = (
    "storages.backends.s3.S3Storage",
    "storages.backends.s3boto3.S3Boto3Storage",
)


def s3_storage_options(environ) -> dict:
    """django-storages' S3 options from the environment (variables as in its own documentation)."""
    options = {
        "bucket_name": environ.get("AWS_STORAGE_BUCKET_NAME", "").strip(),
        # Another S3-compatible store than AWS: MinIO, R2, Ceph... (None: AWS's own endpoints).
        "endpoint_url": environ.get("AWS_S3_ENDPOINT_URL", "").strip() or None,
        # None: boto3's own default (AWS_DEFAULT_REGION, ~/.aws/config).
        "region_name": environ.get("AWS_S3_REGION_NAME", "").strip() or None,
        # A folder inside the bucket, so several kb sites (or other data) may share one bucket.
        "location": environ.get("AWS_LOCATION", "").strip().strip("/"),
        "addressing_style": environ.get("AWS_S3_ADDRESSING_STYLE", "").strip() or None,
        "signature_version": environ.get("AWS_S3_SIGNATURE_VERSION", "").strip() or None,
        # kb serves every stored file through its own views (access checks, the archive CSP),
        # never by a bucket URL: no signed URLs to make, and no ACL to send (buckets with ACLs
        # disabled, AWS's default, refuse a request that carries one).
        "querystring_auth": False,
        "default_acl": None,
        # Blob names are SHA-256 digests: a name already there holds the same bytes.
        "file_overwrite": True,
    }
    options["client_config"] = s3_client_config(options)
    # Without keys boto3 looks further (AWS_SESSION_TOKEN, ~/.aws, an instance or task role).
    for option, variable in (
        ("access_key", "AWS_ACCESS_KEY_ID"),
        ("secret_key", "AWS_SECRET_ACCESS_KEY"),
    ):
        if environ.get(variable):
            options[option] = environ[variable]
    return options


def s3_client_config(options: dict):
    """boto3's client settings: a store that does not answer is an error in seconds, not minutes
    (boto3's defaults wait 60 s to connect, up to 5 times), so a page waits little when it is down."""
    try:
        from botocore.config import Config
    except ImportError:  # kb.checks says to install boto3
        return None
    return Config(
        # what django-storages puts in its own Config, which this one replaces
        s3={"addressing_style": options["addressing_style"]},
        signature_version=options["signature_version"],
        connect_timeout=5,
        read_timeout=60,
        retries={"mode": "standard", "max_attempts": 3},
    )


if KB_STORAGE_BACKEND in S3_STORAGE_BACKENDS:
    _DEFAULT_STORAGE_OPTIONS = s3_storage_options(os.environ)
elif KB_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    _DEFAULT_STORAGE_OPTIONS = {"location": str(DATA_DIR / "blobs")}
else:  # another django-storages backend, configured by its own settings
    _DEFAULT_STORAGE_OPTIONS = {}
STORAGES = {
    "default": {"BACKEND": KB_STORAGE_BACKEND, "OPTIONS": _DEFAULT_STORAGE_OPTIONS},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "kb.storage.StaticFilesStorage"
        ),
    },
}
WHITENOISE_USE_FINDERS = True

# Background work through the django.tasks API (the django-tasks backport).
KB_TASK_BACKEND = os.environ.get("KB_TASK_BACKEND", "database")
_TASK_BACKENDS = {
    "database": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    "immediate": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
    "rq": {"BACKEND": "kb.task_backends.RQBackend", "QUEUES": ["default"]},
    "dummy": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"},
}
if KB_TASK_BACKEND not in _TASK_BACKENDS:
    raise RuntimeError(
        f"KB_TASK_BACKEND={KB_TASK_BACKEND!r}: choose one of {', '.join(_TASK_BACKENDS)}"
    )
TASKS = {"default": _TASK_BACKENDS[KB_TASK_BACKEND]}
if KB_TASK_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
    RQ_QUEUES = {"default": {"URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")}}
    # A worker started without --job-class (`rqworker default`, `rqworker-pool`) still runs tasks.
    # ...and one that loses Redis in the middle of a job waits for it instead of quitting.
    RQ = {"JOB_CLASS": "django_tasks_rq.Job", "WORKER_CLASS": "kb.rq_worker.ReconnectingWorker"}

# The health check (kb.health, GET /healthz). Each worker process writes a heartbeat this often
# (seconds); one silent for three beats counts as dead. A capture still waiting or running
# KB_HEALTH_PENDING_LIMIT seconds after it was asked for means captures are not progressing.
try:
    KB_HEARTBEAT_SECONDS = float(os.environ.get("KB_HEARTBEAT_SECONDS", "10"))
    KB_HEALTH_PENDING_LIMIT = float(os.environ.get("KB_HEALTH_PENDING_LIMIT", "600"))
except ValueError as exc:
    raise RuntimeError(
        "KB_HEARTBEAT_SECONDS and KB_HEALTH_PENDING_LIMIT are seconds, e.g. 600"
    ) from exc
if KB_HEARTBEAT_SECONDS <= 0 or KB_HEALTH_PENDING_LIMIT <= 0:
    raise RuntimeError(
        "KB_HEARTBEAT_SECONDS and KB_HEALTH_PENDING_LIMIT must be more than 0 seconds"
    )

# The capture fetcher refuses every non-public address except these (host or host:port).
KB_FETCH_ALLOW_HOSTS = env_list("KB_FETCH_ALLOW_HOSTS")
# Captures (snapshots.tasks); tests shorten them. Seconds before the 2nd and the 3rd attempt:
try:
    KB_CAPTURE_RETRY_DELAYS = tuple(float(s) for s in env_list("KB_CAPTURE_RETRY_DELAYS", "30,120"))
except ValueError as exc:
    raise RuntimeError(
        "KB_CAPTURE_RETRY_DELAYS must be seconds, comma-separated, e.g. 30,120"
    ) from exc
# At most this many captures of one host run at once (1 for a host that hung in the last 10
# minutes), so a slow or hanging site cannot hold every worker; the others wait their turn.
# A retry gets this many seconds in all (the first attempt 60), and reads time out after 5.
try:
    KB_CAPTURE_PER_HOST = int(os.environ.get("KB_CAPTURE_PER_HOST", "2"))
    KB_CAPTURE_RETRY_SECONDS = float(os.environ.get("KB_CAPTURE_RETRY_SECONDS", "20"))
    if KB_CAPTURE_PER_HOST < 1 or KB_CAPTURE_RETRY_SECONDS <= 0:
        raise ValueError
except ValueError as exc:
    raise RuntimeError(
        "KB_CAPTURE_PER_HOST must be a whole number from 1 and KB_CAPTURE_RETRY_SECONDS seconds above 0"
    ) from exc
# FetchPolicy fields (connect_timeout, read_timeout, ...) and `seconds` for the whole capture:
KB_CAPTURE_FETCH_OPTIONS: dict = {}
# Limits fields (max_assets, max_total_bytes, max_media_bytes): what a capture inlines at most.
KB_CAPTURE_LIMITS: dict = {}
# The capture engine (snapshots/capture/engines.py): auto (static, then the browser for pages
# their scripts build, when Chromium is there), static, or browser. KB_CHROMIUM names the browser
# (default: chromium on PATH); without one, every capture is static.
KB_CAPTURE_ENGINE = os.environ.get("KB_CAPTURE_ENGINE", "").strip().lower() or "auto"
if KB_CAPTURE_ENGINE not in ("auto", "static", "browser"):
    raise RuntimeError(f"KB_CAPTURE_ENGINE={KB_CAPTURE_ENGINE!r}: choose auto, static or browser")
KB_CHROMIUM = os.environ.get("KB_CHROMIUM", "").strip()

# Content Security Policy for the site's own pages (archived pages get a stricter one of their own).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "frame-src": ["'self'"],
        "frame-ancestors": ["'self'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "SAMEORIGIN"
if env_flag("KB_HTTPS"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Browsers that once saw kb over HTTPS never try plain HTTP again (a year; the site only).
    SECURE_HSTS_SECONDS = 365 * 24 * 3600

# Loss calculations one web process runs at once; more wait a moment, then get 503 (lossdemos.admission).
KB_LOSS_CONCURRENCY = max(1, int(os.environ.get("KB_LOSS_CONCURRENCY", "2") or 2))

DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024  # a 1,000,000-number JSON body fits
# The largest multipart body any address takes (a library zip, snapshots.forms.MAX_LIBRARY_ZIP_BYTES,
# with room for the form); kb.middleware refuses a longer one unread. Each route checks its own.
KB_UPLOAD_MAX_BYTES = 1024 * 1024 * 1024 + 16 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "rq_scheduler": {"level": "WARNING"},
        # it logs a warning for every malformed upload, which the API already answers with a 422
        "python_multipart": {"level": "ERROR"},
    },
}

# Loss demos: which library tags belong to each concept page (the page lists the reader's links with
# any of them). Override with KB_CONCEPT_TAGS as a JSON object, e.g. {"kl": ["kl-divergence"]}.
KB_CONCEPT_TAGS: dict[str, list[str]] = {
    "softmax": ["softmax"],
    "entropy": ["entropy", "熵"],
    "nll": ["nll", "negative-log-likelihood", "最大似然"],
    "cross-entropy": ["cross-entropy", "交叉熵"],
    "kl": ["kl-divergence", "KL散度"],
    "perplexity": ["perplexity", "困惑度"],
}
if os.environ.get("KB_CONCEPT_TAGS"):
    try:
        KB_CONCEPT_TAGS = {
            str(concept): [str(tag) for tag in tags]
            for concept, tags in json.loads(os.environ["KB_CONCEPT_TAGS"]).items()
        }
    except (ValueError, AttributeError, TypeError) as exc:
        raise RuntimeError(
            'KB_CONCEPT_TAGS must be a JSON object of lists, e.g. {"kl": ["kl-divergence"]}'
        ) from exc

# Library tags: "Python" and "python" are one tag (the first spelling is kept); see snapshots.normalize.
TAGGIT_CASE_INSENSITIVE = True
