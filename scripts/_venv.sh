# Sourced by scripts/run and scripts/test: make the virtualenv and install a requirements file
# only when it changed since the last install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Logs, pid files and the SQLite test database live here (git keeps only the folder).
mkdir -p var
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "hotline: creating .venv with $PY"
  "$PY" -m venv .venv
fi
ensure_requirements() {
  local file="$1" stamp=".venv/.installed-$(basename "$1")"
  local sum; sum="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sum" ]; then
    echo "hotline: installing $file"
    .venv/bin/python -m pip install -q --disable-pip-version-check -r "$file"
    echo "$sum" > "$stamp"
  fi
}
