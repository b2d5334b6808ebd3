"""python manage.py demo_totp USERNAME — demo mode only: the current two-factor code of a demo login.

Gives the user the documented demo authenticator key (accounts.two_factor.DEMO_TOTP_KEY, base32
GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ) if they do not have it yet, and prints the code valid now.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.oath import totp

from accounts import two_factor


class Command(BaseCommand):
    help = "Demo mode: give a user the demo authenticator key and print their current two-factor code."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not two_factor.two_factor_required(user):
            self.stdout.write(f"{username} does not need a two-factor code (role: {user.get_role_display()}).")
            return
        device = two_factor.confirmed_totp_device(user)
        try:
            if device is None or device.key != two_factor.DEMO_TOTP_KEY:
                device = two_factor.demo_device(user)
        except two_factor.TwoFactorError as error:
            raise CommandError(str(error)) from error
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"
        self.stdout.write(f"Two-factor code for {username}: {code} (valid about 30 s; "
                          f"authenticator key {two_factor.base32_secret(device)})")
