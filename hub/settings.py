"""Depot settings: one file, every value read from the environment with an embedded default.

The defaults need no server at all (SQLite in WAL mode and a SQLite-backed Celery broker under var/),
so a fresh clone runs with `make run`. DATABASE_URL and CELERY_BROKER_URL switch to PostgreSQL and Redis.
The README's configuration table lists every variable read here.
"""

import contextlib
import os
import secrets
from pathlib import Path

import dj_database_url

from hub.proxies import parse_trusted_proxies

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


VAR_DIR = Path(env_str("DEPOT_VAR_DIR", str(BASE_DIR / "var"))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _load_or_create_secret_key() -> str:
    # A per-installation key kept under var/, so sessions survive restarts without a key in the repo.
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Written aside, then linked into place: processes starting together (gunicorn and the worker, parallel
        # test processes) never read a half-written key, and the first one's key wins for all.
        draft = VAR_DIR / f"secret_key.{os.getpid()}.tmp"
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, key_file)
        draft.unlink()
    return key_file.read_text().strip()


SECRET_KEY = env_str("DEPOT_SECRET_KEY", "") or _load_or_create_secret_key()
DEBUG = env_bool("DEPOT_DEBUG", False)
ALLOWED_HOSTS = env_list("DEPOT_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DEPOT_CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

# --- security: proxies, HTTPS, headers ------------------------------------------------------------------
# X-Forwarded-For (and X-Forwarded-Proto) are believed only from these peers: addresses or CIDR networks.
TRUSTED_PROXIES = parse_trusted_proxies(env_list("DEPOT_TRUSTED_PROXIES", ""))
# DEPOT_HTTPS=true: the site is served over HTTPS only (redirects, HSTS, cookies never sent in clear).
HTTPS = env_bool("DEPOT_HTTPS", False)
SECURE_SSL_REDIRECT = HTTPS
SECURE_HSTS_SECONDS = env_int("DEPOT_HSTS_SECONDS", 31_536_000) if HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = HTTPS
SECURE_HSTS_PRELOAD = HTTPS
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
# No SECURE_PROXY_SSL_HEADER: Django would believe X-Forwarded-Proto from any client. The web server sets the
# scheme from it only for DEPOT_TRUSTED_PROXIES (hub/gunicorn_conf.py: forwarded_allow_ips).
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "catalog",
    "evaluation",
    "demo",
]

MIDDLEWARE = [
    "hub.limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "hub.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "hub.security.PublicThrottleMiddleware",
    "hub.login_guard.AdminLoginGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hub.urls"
WSGI_APPLICATION = "hub.wsgi.application"

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


def _database_config() -> dict:
    url = env_str("DATABASE_URL", "")
    if url:
        return dj_database_url.parse(url, conn_max_age=env_int("DEPOT_DB_CONN_MAX_AGE", 60))
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": VAR_DIR / "depot.sqlite3",
        "OPTIONS": {
            # WAL lets the web server read while a worker writes; IMMEDIATE avoids lock-upgrade deadlocks.
            # A larger page cache and memory-mapped reads keep catalog scans in memory.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA cache_size=-32000; PRAGMA mmap_size=134217728;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
        # Tests use a file, not memory, so a real Celery worker process can share the test database;
        # one per test process, so two test runs in one checkout never share (or delete) each other's.
        "TEST": {"NAME": str(VAR_DIR / f"test-depot-{os.getpid()}.sqlite3")},
    }


DATABASES = {"default": _database_config()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(env_str("DEPOT_MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
MEDIA_URL = "/media/"
MAX_UPLOAD_BYTES = env_int("DEPOT_MAX_UPLOAD_MB", 2048) * 1_000_000
# Bodies that are not file uploads (JSON, forms): the largest real one is a few KB (hub/limits.py).
DATA_UPLOAD_MAX_MEMORY_SIZE = 5_000_000
# Limits on an uploaded dataset zip, checked before anything is extracted (zip bombs, file floods).
DATASET_MAX_FILES = 200_000
DATASET_MAX_BYTES = 20_000_000_000
DATASET_MAX_RATIO = 200.0
FILE_UPLOAD_TEMP_DIR = VAR_DIR / "tmp"
FILE_UPLOAD_TEMP_DIR.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "/admin/login/"
# /admin/login/ (hub/login_guard.py): attempts per client address, and the failures that lock a username or an
# address out for a quarter of an hour (or until `manage.py unlock_login`).
LOGIN_ATTEMPTS = 10
LOGIN_ATTEMPTS_WINDOW = 60
LOGIN_FAILURES_PER_USERNAME = 5
LOGIN_FAILURES_PER_IP = 20
LOGIN_LOCKOUT_WINDOW = 15 * 60
# A CSRF refusal in the error shape on API and Hugging Face paths (HTML elsewhere), like 400/404/500.
CSRF_FAILURE_VIEW = "hub.errors.csrf_failure"

# --- REST API -------------------------------------------------------------------------------------------
API_MAX_PAGE_SIZE = env_int("DEPOT_API_MAX_PAGE_SIZE", 100)
API_DEFAULT_PAGE_SIZE = min(env_int("DEPOT_API_PAGE_SIZE", 25), API_MAX_PAGE_SIZE)
# Lists and the catalog page count a filtered result exactly up to this many rows; on PostgreSQL a larger one
# shows the planner's estimate, marked as one (hub.pagination). Each exactly counted row costs time.
EXACT_COUNT_LIMIT = env_int("DEPOT_EXACT_COUNT_LIMIT", 1000)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["hub.permissions.IsStaffOrReadOnly"],
    "DEFAULT_THROTTLE_CLASSES": [
        "hub.security.AnonRateThrottle",
        "hub.security.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("DEPOT_API_THROTTLE_ANON", "600/min"),
        "user": env_str("DEPOT_API_THROTTLE_USER", "3000/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "hub.schema.DepotAutoSchema",
    "EXCEPTION_HANDLER": "hub.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's defaults, with JSON bodies checked for absurd nesting first (hub/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "hub.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Depot API",
    "DESCRIPTION": "Catalog of pretrained models, benchmark jobs and fine-tuning starter bundles.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hub.schema.add_links",
        "hub.schema.copy_filter_parameters",
    ],
    # Runs, rankings and ranking candidates all have a "status" field: name each choice set after its class.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "evaluation.models.RunStatus",
        "CandidateStatusEnum": "evaluation.models.CandidateStatus",
        # A claim's verdict (the model detail's verdicts, the leaderboard's rows) and a mirror job's status:
        # named once each, so the schema has one enum per meaning instead of numbered collisions.
        "VerdictStatusEnum": ["verified", "disagrees", "unverifiable", "pending"],
        "MirrorStatusEnum": "catalog.models.MirrorStatus",
    },
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "depot",
    }
}
if env_str("DEPOT_CACHE_URL", ""):
    CACHES["default"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("DEPOT_CACHE_URL", ""),
    }
# Throttle and login-failure counters, shared by every web process (hub/hits.py): on the Redis server when
# DEPOT_CACHE_URL names one, else in a SQLite file of their own (not the catalog's database: a hit per request
# would queue behind the catalog's writes).
HITS_URL = env_str("DEPOT_CACHE_URL", "") or f"sqlite:///{VAR_DIR / 'hits.sqlite3'}"

# --- Celery ---------------------------------------------------------------------------------------------
# The embedded broker is SQLite through SQLAlchemy: durable, no server, shared by web and worker processes.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqlalchemy+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}")
CELERY_TASK_ALWAYS_EAGER = env_bool("DEPOT_CELERY_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"evaluation.*": {"queue": "benchmarks"}}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A job process gets this long to start (the default, 4 s, is short on a loaded machine: it would be killed
# and replaced in a loop).
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60
CELERY_BROKER_CONNECTION_MAX_RETRIES = None  # a worker whose broker went away reconnects until it is back

# --- Weights mirrored from the Hugging Face Hub (catalog.services.weights_mirror_*) ------------------------
# The Hub to mirror from; "" is huggingface_hub's own (HF_ENDPOINT, else https://huggingface.co).
HF_MIRROR_ENDPOINT = env_str("DEPOT_HF_MIRROR_ENDPOINT", "")
# Hard time limit of one mirror job (seconds); the soft limit, a minute earlier, records the failure.
MIRROR_TIME_LIMIT = env_int("DEPOT_MIRROR_TIME_LIMIT", 3600)

# --- Jobs (runs, rankings): time limits, heartbeat, reaper (see README: "Jobs and faults") -------------
# Hard time limit of one run (the worker kills the job's process); the soft limit, a minute earlier, lets
# the job record "failed: time limit" itself.
RUN_TIME_LIMIT = env_int("DEPOT_RUN_TIME_LIMIT", 3 * 3600)
RUN_SOFT_TIME_LIMIT = max(1, RUN_TIME_LIMIT - min(60, RUN_TIME_LIMIT // 10))
# A running run whose heartbeat (written with its progress, every batch) is older than this is presumed
# orphaned: its worker vanished. Keep it above the slowest batch plus model loading.
RUN_HEARTBEAT_TIMEOUT = env_int("DEPOT_RUN_HEARTBEAT_TIMEOUT", 300)
# Executions a run may start before the reaper gives up and fails it (a job that kills its worker each time).
RUN_MAX_ATTEMPTS = env_int("DEPOT_RUN_MAX_ATTEMPTS", 3)
# Every worker's main process runs the reaper this often (seconds), and once when it starts.
RUN_REAPER_INTERVAL = env_int("DEPOT_RUN_REAPER_INTERVAL", 60)
# A job (run or ranking) queued this long without a worker taking it is published again: its message may have
# been lost before any worker started it (a purged queue, a broker that lost its data). A message that was only
# waiting behind others makes the extra one a duplicate, which the attempt guard drops when it arrives; keep it
# above the usual wait in the queue so that stays rare.
RUN_QUEUED_TIMEOUT = env_int("DEPOT_RUN_QUEUED_TIMEOUT", 3600)
# A dataset whose deletion job showed no progress (a batch of files removed) for this many seconds is published
# again by the reaper: its worker died or its message was lost. The job is idempotent, so a duplicate is harmless.
DATASET_DELETE_TIMEOUT = env_int("DEPOT_DATASET_DELETE_TIMEOUT", 600)
# Files a deletion job removes between two signs of life (its row's `deleting` stamp).
DATASET_DELETE_BATCH = 1000
# The orphan sweep (manage.py sweep_datasets) leaves alone what changed more recently than this: an upload
# being extracted or spooled right now.
DATASET_SWEEP_GRACE = env_int("DEPOT_DATASET_SWEEP_GRACE", 24 * 3600)
# A transfer ranking's time limits (seconds); heartbeat, attempts and reaper are the runs' settings above.
RANKING_SOFT_TIME_LIMIT = 3600
RANKING_TIME_LIMIT = RANKING_SOFT_TIME_LIMIT + 60
# Redis re-delivers an unacknowledged message after the visibility timeout: it must exceed the longest job,
# or a job still running would be started a second time (the attempt guard would keep one result, but
# the work would be wasted). An hour above the hard limit. (The SQLite transport has no such timeout: a
# message taken by a worker that vanished stays taken, and the reaper requeues its run.)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": RUN_TIME_LIMIT + 3600}
# Publishing a job (after the request's transaction commits) retries while the broker is briefly away.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 5,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 2,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DEPOT_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
