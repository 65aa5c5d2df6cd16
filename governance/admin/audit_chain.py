"""The audit chain in the admin: its links, its published anchors and a "Verify the audit chain" button.

Both tables are append-only in the database, so both admins are read-only for everyone. The link
table grows with every change event (millions of rows): the list never counts it (the last ``seq``
is its size, since the chain has no gaps), sorts only on indexed columns and fetches each row's
event table and object with a primary-key lookup per row of the page, not a join over the table.
"""

import re

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from governance.admin.base import ReadOnlyAdmin
from governance.models import AuditAnchor, AuditChainLink, ChangeEvent
from governance.services import audit_chain

_EVENT_ID = re.compile(r"\d{1,18}")
_SEQ = re.compile(r"#(\d{1,18})")
_HASH_PREFIX = re.compile(r"[0-9a-f]{4,64}")
DIGIT_HASH_PREFIX = 8  # an all-digit term this long is searched as a hash prefix as well as an id
_AGREES = mark_safe('<span class="anchor-agrees">yes</span>')


def _short(digest: str) -> str:
    return f"{digest[:12]}…" if digest else "—"


class ChainPaginator(Paginator):
    """Counts the unfiltered chain by its head ``seq`` (an index lookup) instead of ``COUNT(*)``.

    A filtered list (a search) is counted exactly: the searches find one link, or a few.
    """

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            return audit_chain.head()[0]
        return super().count


class ChainReadOnlyAdmin(ReadOnlyAdmin):
    """Officers, auditors and superusers (those who read the whole change history) with the view
    permission; anyone else is refused, since a link names its event's table and object."""

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) and request.user.sees_everything

    def has_module_permission(self, request):
        return super().has_module_permission(request) and request.user.sees_everything


@admin.register(AuditChainLink)
class AuditChainLinkAdmin(ChainReadOnlyAdmin):
    """The chain, newest link first, with the verify button above the list."""

    change_list_template = "admin/governance/auditchainlink/change_list.html"
    list_display = [
        "seq",
        "event",
        "event_table",
        "event_object",
        "short_event_hash",
        "short_chain_hash",
        "sealed_at",
        "batch",
    ]
    ordering = ["-seq"]
    sortable_by = ["seq", "event", "sealed_at"]  # indexed columns only
    search_fields = ["event_id"]  # shows the search box; get_search_results does the searching
    search_help_text = "An event id, #seq, or the first characters (4 or more) of an event or chain hash."
    list_per_page = 100
    show_full_result_count = False
    paginator = ChainPaginator
    fields = [
        "seq",
        "event",
        "event_table",
        "event_object",
        "event_hash",
        "chain_hash",
        "sealed_at",
        "batch",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        events = ChangeEvent.objects.filter(pk=OuterRef("event_id"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                _event_table=Subquery(events.values("table_name")[:1]),
                _event_object=Subquery(events.values("object_pk")[:1]),
            )
        )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip().lower()
        if not term:
            return queryset, False
        if match := _SEQ.fullmatch(term):
            return queryset.filter(seq=int(match[1])), False
        found = Q()
        if _EVENT_ID.fullmatch(term):
            found |= Q(event_id=int(term))
        # Hex that happens to be all digits is a hash prefix too, once it is long enough not to
        # be taken for an event id.
        if _HASH_PREFIX.fullmatch(term) and not (term.isdigit() and len(term) < DIGIT_HASH_PREFIX):
            found |= Q(event_hash__startswith=term) | Q(chain_hash__startswith=term)
        return (queryset.filter(found) if found else queryset.none()), False

    @admin.display(description="event", ordering="event_id")
    def event(self, link):
        if link._event_table is None:
            return format_html("{} <em>(missing)</em>", link.event_id)
        url = reverse("admin:governance_changeevent_change", args=[link.event_id])
        return format_html('<a href="{}">{}</a>', url, link.event_id)

    @admin.display(description="table")
    def event_table(self, link):
        return link._event_table or "—"

    @admin.display(description="object")
    def event_object(self, link):
        return link._event_object or "—"

    @admin.display(description="event hash")
    def short_event_hash(self, link):
        return _short(link.event_hash)

    @admin.display(description="chain hash")
    def short_chain_hash(self, link):
        return _short(link.chain_hash)

    # --- Verify the audit chain ------------------------------------------------------------------

    def get_urls(self):
        verify = path(
            "verify/",
            self.admin_site.admin_view(self.verify_view),
            name="governance_auditchainlink_verify",
        )
        return [verify, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_verify": self.has_view_permission(request)}
        return super().changelist_view(request, extra_context)

    def verify_view(self, request):
        """Recompute the whole chain (synchronously) and report the outcome as a message."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        # In this web process: no worker processes forked from a server's request handler.
        result = audit_chain.verify(workers=1)
        if result.ok:
            self.message_user(
                request,
                f"The audit chain verifies: {result.checked} events, head seq {result.head_seq} "
                f"hash {result.head_hash}.",
                messages.SUCCESS,
            )
            for warning in result.warnings:
                self.message_user(request, warning, messages.WARNING)
        else:
            self.message_user(request, _failure(result), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:governance_auditchainlink_changelist"))


def _failure(result: audit_chain.VerifyResult):
    if result.first_bad_table:
        url = reverse("admin:governance_changeevent_change", args=[result.first_bad_event_id])
        event = format_html(
            '<a href="{}">event {}</a> ({} #{})',
            url,
            result.first_bad_event_id,
            result.first_bad_table,
            result.first_bad_object,
        )
    else:
        event = format_html("event {}", result.first_bad_event_id)
    return format_html(
        "The audit chain does not verify: link seq {}, {}: {}. The {} links before it verify.",
        result.first_bad_seq,
        event,
        result.reason,
        result.checked,
    )


@admin.register(AuditAnchor)
class AuditAnchorAdmin(ChainReadOnlyAdmin):
    """Every publication of the chain head, and whether the chain still holds what was published."""

    list_display = ["at", "seq", "short_chain_hash", "sink", "outcome", "detail", "agrees"]
    list_filter = ["sink"]
    ordering = ["-id"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["seq", "chain_hash", "at", "sink", "outcome", "detail", "agrees"]
    readonly_fields = fields

    def get_queryset(self, request):
        links = AuditChainLink.objects.filter(seq=OuterRef("seq")).values("chain_hash")[:1]
        return super().get_queryset(request).annotate(_link_hash=Subquery(links))

    @admin.display(description="chain hash")
    def short_chain_hash(self, anchor):
        return _short(anchor.chain_hash)

    @admin.display(description="outcome")
    def outcome(self, anchor):
        return "failed" if anchor.detail.startswith("failed:") else "sent"

    @admin.display(description="agrees with the chain")
    def agrees(self, anchor):
        # The page's links come with the anchors; check_anchor (a query) only explains a mismatch.
        if anchor._link_hash == anchor.chain_hash:
            return _AGREES
        problem = audit_chain.check_anchor(
            {"seq": anchor.seq, "chain_hash": anchor.chain_hash, "at": anchor.at.isoformat()}
        )
        if not problem:
            return _AGREES
        return format_html('<span class="anchor-disagrees">no: {}</span>', problem)
