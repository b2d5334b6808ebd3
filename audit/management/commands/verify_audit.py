from django.core.management.base import BaseCommand, CommandError

from audit.verification import verify_chain


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; exit status 1 and the first bad entry when it was altered."

    def handle(self, *args, **options):
        checked, first_break = verify_chain()
        if first_break:
            raise CommandError(f"Audit trail altered: entry {first_break.event_id} {first_break.reason} "
                               f"({checked} entries before it verified).")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {checked} entries verified."))
