"""Permissions come from Verity roles, not from per-user or per-group permission rows.

Django's ModelBackend runs two permission queries per request; with roles as the only source of
permissions (the tables each app declares to governance/roles.py) they are a set lookup on the
role names, which the token authentication loads with the token itself. The role groups'
database permissions are kept in step by ``migrate`` so that the admin's user pages show the same
thing.
"""

from django.contrib.auth.backends import ModelBackend

from governance.roles import permissions_of


class RolePermissionBackend(ModelBackend):
    """Password login as usual; permissions from roles (superusers keep all permissions)."""

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        return set(permissions_of(user_obj.role_names()))
