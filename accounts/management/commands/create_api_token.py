from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

from audit.services import audit_log


class Command(BaseCommand):
    help = "Print a new API token for USERNAME (any earlier token of that user stops working)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user named {username!r}.") from None
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
        audit_log(code="accounts.api_token.created", obj=user, context={"by": "create_api_token"})
        self.stdout.write(token.key)
