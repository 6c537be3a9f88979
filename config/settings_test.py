"""The settings of a test run (pytest.ini's DJANGO_SETTINGS_MODULE): the project's own settings,
with the two things every test run needs given the way an operator would give them.

The project's settings refuse to start a production configuration that is unsafe (the built-in
SECRET_KEY, a development SMS provider with DEBUG off). The tests run with DEBUG off and the
console/locmem SMS providers on purpose, so they say so here, through the same variables, before the
settings are read: nothing in config/settings.py knows about tests. A key given by the caller
(./scripts/test exports one, shared with the server processes the tests start) wins.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", f"hotline-tests-{secrets.token_hex(16)}")
os.environ.setdefault("SMS_ALLOW_DEV_PROVIDER", "1")

from config.settings import *  # noqa: E402,F403
