"""Evidence packs in the admin: the list of packs with their downloads, and the "Build evidence
pack" action offered on the framework and AI system lists."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html

from governance.admin.base import ReadOnlyAdmin
from governance.models import AISystem, EvidencePack, Framework
from governance.services import pack_builds


def _request(modeladmin, request, **scope) -> None:
    try:
        pack = pack_builds.request_pack(actor=request.user, **scope)
    except (PermissionDenied, ValidationError) as exc:
        modeladmin.message_user(request, f"No pack was built: {exc}", messages.ERROR)
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


@admin.register(EvidencePack)
class EvidencePackAdmin(ReadOnlyAdmin):
    list_display = ["id", "status", "requested_by", "created_at", "finished_at", "size", "download"]
    list_filter = ["status"]
    list_select_related = ["requested_by"]
    readonly_fields = [
        "requested_by", "parameters", "status", "size", "sha256", "error", "created_at", "finished_at",
        "download",
    ]  # fmt: skip
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).visible_to(request.user)

    @admin.display(description="download")
    def download(self, pack):
        if pack.status != EvidencePack.Status.READY:
            return "—"
        return format_html('<a href="{}">ZIP</a>', reverse("evidence-pack-download", args=[pack.pk]))
