"""Evidence packs in the admin: the list of packs with their downloads and why a failed one failed,
the "Retry failed packs" action, and the "Build evidence pack" action offered on the framework and
AI system lists."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import Truncator

from governance.admin.base import ReadOnlyAdmin
from governance.exceptions import Conflict, Unavailable
from governance.models import AISystem, EvidencePack, Framework
from governance.services import pack_builds


def _refusal(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return getattr(exc, "message", None) or str(exc)


def _request(modeladmin, request, **scope) -> None:
    try:
        pack = pack_builds.request_pack(actor=request.user, **scope)
    except (PermissionDenied, ValidationError, Unavailable) as exc:
        modeladmin.message_user(request, f"No pack was built: {_refusal(exc)}", messages.ERROR)
        return
    link = reverse("admin:governance_evidencepack_change", args=[pack.pk])
    text = 'Evidence pack <a href="{}">{}</a> is being built; it is listed under Evidence packs.'
    modeladmin.message_user(request, format_html(text, link, pack.pk), messages.SUCCESS)


def _may_build(request) -> bool:
    return request.user.has_perm("governance.add_evidencepack")


@admin.action(description="Build evidence pack", permissions=["build_pack"])
def build_pack_for_frameworks(modeladmin, request, queryset):
    """A pack for the selected frameworks, over the whole register the user may read."""
    _request(modeladmin, request, frameworks=list(queryset.order_by("code", "version")))


@admin.action(description="Build evidence pack", permissions=["build_pack"])
def build_pack_for_systems(modeladmin, request, queryset):
    """A pack for the selected systems, with every framework's statement and coverage."""
    frameworks = list(Framework.objects.visible_to(request.user).order_by("code", "version"))
    systems = list(AISystem.objects.visible_to(request.user).filter(pk__in=queryset.values("pk")))
    _request(modeladmin, request, frameworks=frameworks, systems=systems)


class BuildPackPermission:
    """Mixed into the framework and AI system admins to offer ``build_pack_for_*``."""

    def has_build_pack_permission(self, request) -> bool:
        return _may_build(request)


@admin.action(description="Retry failed packs", permissions=["build_pack"])
def retry_packs(modeladmin, request, queryset):
    """Queue each selected failed pack again; the others are named and left as they are."""
    queued, refused = [], []
    for pack in queryset.order_by("id"):
        try:
            queued.append(pack_builds.retry_pack(actor=request.user, pack=pack).pk)
        except (PermissionDenied, Conflict, Unavailable) as exc:
            refused.append(f"pack {pack.pk}: {_refusal(exc)}")
    if queued:
        listed = ", ".join(str(pk) for pk in queued)
        modeladmin.message_user(request, f"Queued again: pack {listed}.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, "Not retried: " + "; ".join(refused), messages.ERROR)


@admin.register(EvidencePack)
class EvidencePackAdmin(BuildPackPermission, ReadOnlyAdmin):
    list_display = [
        "id", "status", "requested_by", "created_at", "finished_at", "attempts", "size", "reason", "download",
    ]  # fmt: skip
    list_filter = ["status"]
    list_select_related = ["requested_by"]
    readonly_fields = [
        "requested_by", "parameters", "status", "error", "attempts", "size", "sha256", "created_at",
        "started_at", "finished_at", "download",
    ]  # fmt: skip
    fields = readonly_fields
    actions = [retry_packs]

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="why it failed")
    def reason(self, pack):
        return Truncator(pack.error).chars(120) if pack.status == EvidencePack.Status.FAILED else ""

    @admin.display(description="download")
    def download(self, pack):
        if pack.status != EvidencePack.Status.READY:
            return "—"
        return format_html('<a href="{}">ZIP</a>', reverse("evidence-pack-download", args=[pack.pk]))
