"""Evidence packs and their downloads; every write to either is recorded in the change history."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import governance.models.packs
from governance.audit_sql import track_table


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0015_audit_chain"),
    ]

    operations = [
        migrations.CreateModel(
            name="EvidencePack",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("parameters", models.JSONField(default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("building", "Building"),
                            ("ready", "Ready"),
                            ("failed", "Failed"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                (
                    "file",
                    models.FileField(
                        blank=True,
                        editable=False,
                        max_length=300,
                        storage=governance.models.packs._evidence_storage,
                        upload_to="",
                    ),
                ),
                ("size", models.PositiveBigIntegerField(blank=True, editable=False, null=True)),
                (
                    "sha256",
                    models.CharField(blank=True, editable=False, max_length=64, verbose_name="SHA-256"),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="evidence_packs",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="PackDownload",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(auto_now_add=True)),
                ("sha256", models.CharField(blank=True, max_length=64, verbose_name="SHA-256")),
                (
                    "pack",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="downloads",
                        to="governance.evidencepack",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "ordering": ["-at", "-id"],
            },
        ),
        track_table("governance_evidencepack"),
        track_table("governance_packdownload", root_table="governance_evidencepack", root_column="pack_id"),
    ]
