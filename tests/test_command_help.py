"""`manage.py <command> --help` explains every argument of our own commands."""

from __future__ import annotations

import pytest
from django.core.management import get_commands, load_command_class

OURS = sorted((name, app) for name, app in get_commands().items()
              if app in {"capture", "routing", "followup", "chat"})


@pytest.mark.parametrize(("name", "app"), OURS, ids=[name for name, _ in OURS])
def test_every_argument_of_our_commands_has_a_help_text(name, app):
    command = load_command_class(app, name)
    parser = command.create_parser("manage.py", name)
    assert command.help
    undocumented = [action.dest for action in parser._actions if not action.help]
    assert undocumented == [], f"manage.py {name} --help says nothing about {undocumented}"
