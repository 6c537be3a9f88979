# Sourced by the scripts: make the virtualenv and install a requirements file only when it changed
# since the last install. What it says goes to stderr, so `./scripts/manage dumpdata > data.json`
# gets manage.py's output only.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Logs, pid files and the SQLite test database live here (git keeps only the folder).
mkdir -p var
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "hotline: creating .venv with $PY" >&2
  "$PY" -m venv .venv >&2
fi
ensure_requirements() {
  local file="$1" stamp=".venv/.installed-$(basename "$1")"
  local sum; sum="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "hotline: installing $file" >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$file" >&2
    echo "$sum" > "$stamp"
  fi
}
