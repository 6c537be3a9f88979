"""The admin site: Django's, behind a second factor.

django-otp's OTPAdminSite lets a staff user in only once a TOTP device of theirs verified a code, and
its login form asks for the phone number, the password and the 6-digit code on one page: a password
alone never reaches an admin page. Staff get a device with `manage.py admin_totp <mobile_number>`
(accounts/management/commands/admin_totp.py).
"""

from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class OneStepLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login form, where a user with one device need not pick it from a list first
    (django-otp 1.7 asks for an explicit choice so that trying every device cannot throttle the
    unrelated ones; with a single device there is nothing else to throttle). `admin_totp` keeps one
    TOTP device per staff user."""

    def clean_otp(self, user):
        if user is not None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                self.cleaned_data["otp_device"] = devices[0].persistent_id
        super().clean_otp(user)


class HotlineAdminSite(OTPAdminSite):
    login_form = OneStepLoginForm

    def __init__(self, name: str = "admin"):
        # OTPAdminSite names itself "otpadmin"; "admin" keeps every admin URL name and path as before.
        super().__init__(name)
