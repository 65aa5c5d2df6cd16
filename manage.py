#!/usr/bin/env python
"""Django's command-line utility for Verity."""

import getpass
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from governance.change_context import push_context

    # Writes from the shell or a command are attributed to it in the change history.
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    push_context(source=f"manage.py {command}", actor_label=os.environ.get("VERITY_ACTOR", getpass.getuser()))
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
