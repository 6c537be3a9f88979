# Sourced by scripts/run and scripts/manage: the local development environment of the embedded
# defaults (SQLite, in-process channel layer and cache, console SMS, auth4app simulator), so that
# `./scripts/manage createsuperuser` sees the same settings as the server `./scripts/run` starts.
# Every variable set here is only a default: a value already in the environment wins.
source "$(dirname "${BASH_SOURCE[0]}")/_venv.sh"
ensure_requirements requirements.txt
# DEBUG on for local development: the auth4app simulator needs it, and with DEBUG off the settings
# refuse to start on the built-in SECRET_KEY (which is what production must never run with).
export DEBUG="${DEBUG:-1}"
# The simulator's URL (AUTH4APP_API_URL) is derived from the port the server listens on.
export PORT="${PORT:-8000}"
