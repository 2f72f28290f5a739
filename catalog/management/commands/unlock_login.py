"""Lift the admin sign-in lockout (hub/login_guard.py) for a username, an address, or both, before it expires."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hub import login_guard


class Command(BaseCommand):
    help = "Forget the failed sign-ins of a username and/or a client address, so they may sign in again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", help="The username that is locked out.")
        parser.add_argument("--ip", help="The client address that is locked out.")

    def handle(self, *args, username: str | None, ip: str | None, **options) -> None:
        if not username and not ip:
            raise CommandError("Name a --username, an --ip, or both.")
        forgotten = login_guard.unlock(username=username, address=ip)
        self.stdout.write(f"Unlocked: {forgotten} failed sign-in(s) forgotten.")
