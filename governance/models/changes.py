from django.db import models

from governance.querysets import ChangeEventQuerySet


class ChangeEvent(models.Model):
    """One row written, changed or deleted, as recorded by the database trigger.

    Rows are written only by ``verity_record_change()`` (see ``governance/audit_sql.py``) and the
    table refuses UPDATE and DELETE, so history cannot be edited through Django.
    """

    class Operation(models.TextChoices):
        INSERT = "INSERT", "created"
        UPDATE = "UPDATE", "changed"
        DELETE = "DELETE", "deleted"

    occurred_at = models.DateTimeField()
    table_name = models.CharField(max_length=100)
    object_pk = models.CharField(max_length=100)
    root_table = models.CharField(max_length=100, help_text="The aggregate the row belongs to.")
    root_pk = models.CharField(max_length=100)
    operation = models.CharField(max_length=6, choices=Operation.choices)
    before = models.JSONField(null=True)
    after = models.JSONField(null=True)
    changes = models.JSONField(default=dict, help_text="Changed columns: {column: [old, new]}.")
    actor_id = models.BigIntegerField(
        null=True, help_text="User id at the time (kept if the user is deleted)."
    )
    actor = models.CharField(max_length=150, blank=True)
    source = models.CharField(
        max_length=100, blank=True, help_text="admin, api, manage.py <command>, task:<name>, database"
    )
    correlation_id = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    db_user = models.CharField(max_length=100)
    transaction_id = models.BigIntegerField()

    objects = ChangeEventQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["root_table", "root_pk", "-id"], name="changeevent_root"),
            models.Index(fields=["table_name", "object_pk"], name="changeevent_object"),
            models.Index(fields=["occurred_at"], name="changeevent_time"),
        ]

    def __str__(self) -> str:
        who = self.actor or self.source
        return f"{self.table_name}#{self.object_pk} {self.get_operation_display()} by {who}"
