"""The admin site: Django's, behind a second factor.

django-otp's OTPAdminSite lets a staff user in only once a TOTP device of theirs verified a code, and
its login form asks for the phone number, the password and the 6-digit code on one page: a password
alone never reaches an admin page. Staff get a device with `manage.py admin_totp <mobile_number>`
(accounts/management/commands/admin_totp.py).
"""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.forms import OTPAuthenticationFormMixin


class OneStepLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login form, where a user with one device need not pick it from a list first
    (django-otp 1.7 asks for an explicit choice so that trying every device cannot throttle the
    unrelated ones; with a single device there is nothing else to throttle). `admin_totp` keeps one
    TOTP device per staff user.

    Its words are hotline's (django-otp ships no Persian, Chinese or Russian catalog), keyed as
    django-otp keys them."""

    otp_error_messages = dict(
        OTPAuthenticationFormMixin.otp_error_messages,
        token_required=_("Enter the code from your authenticator app."),
        challenge_exception=_("Could not ask the authenticator for a code: {0}"),
        not_interactive=_("This authenticator shows its codes itself: type the code it shows now."),
        challenge_message=_("The authenticator says: {0}"),
        invalid_token=_("That code is wrong or was already used. Type the code your authenticator app shows now."),
        n_failed_attempts=ngettext_lazy(
            "Codes are refused for a while after %(failure_count)d wrong code. Try again in a minute.",
            "Codes are refused for a while after %(failure_count)d wrong codes. Try again in a minute.",
            "failure_count",
        ),
        verification_not_allowed=_("Codes are refused for now. Try again later."),
        device_required=_("Choose an authenticator."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Codes are digits typed left to right in every language; phones offer them for autofill.
        self.fields["otp_token"].widget.attrs.update(
            {"dir": "ltr", "inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": "10"}
        )

    def clean_otp(self, user):
        if user is not None and not self.cleaned_data.get("otp_device"):
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                self.cleaned_data["otp_device"] = devices[0].persistent_id
        super().clean_otp(user)


class HotlineAdminSite(OTPAdminSite):
    login_form = OneStepLoginForm
    login_template = "admin/otp_login.html"

    def __init__(self, name: str = "admin"):
        # OTPAdminSite names itself "otpadmin"; "admin" keeps every admin URL name and path as before.
        super().__init__(name)
