"""The scripts a newcomer runs: ./scripts/manage's environment, and ./scripts/test saying what it
installs with apt, and why, before it does."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.servers import ROOT, free_port

# A fresh login shell's environment: none of the test run's DATABASE_URL, REDIS_URL, SECRET_KEY...
FRESH_SHELL = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}


def test_manage_runs_manage_py_with_the_development_environment_of_run():
    code = "from django.conf import settings; print(settings.DEBUG, settings.PORT, settings.DATABASES['default']['ENGINE'])"
    printed = subprocess.run(
        [str(ROOT / "scripts" / "manage"), "shell", "--no-imports", "-c", code],
        cwd="/", env=FRESH_SHELL, capture_output=True, text=True, timeout=120,
    )
    assert printed.returncode == 0, printed.stderr
    # stdout is manage.py's alone (the venv helper speaks on stderr), so it can be redirected to a file.
    assert printed.stdout == "True 8000 django.db.backends.sqlite3\n"


def test_manage_leaves_a_variable_the_caller_set_alone():
    refused = subprocess.run(
        [str(ROOT / "scripts" / "manage"), "check"], cwd=ROOT, env={**FRESH_SHELL, "DEBUG": "0"},
        capture_output=True, text=True, timeout=120,
    )
    assert refused.returncode == 1
    assert "refusing to start with DEBUG off and the built-in SECRET_KEY" in refused.stderr


def _tools_without_redis(bin_dir: Path) -> dict[str, str]:
    """A PATH with what scripts/test needs before pytest, minus redis-server; `id` says root and
    `apt-get` only records how it was called (on stderr: the script sends apt's stdout away)."""
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "cat", "sha256sum", "cut", "mkdir"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for name, body in {"id": 'echo 0', "apt-get": 'echo "APT-GET $*" >&2'}.items():
        script = bin_dir / name
        script.write_text(f"#!{shutil.which('bash')}\n{body}\n")
        script.chmod(0o755)
    return {**FRESH_SHELL, "PATH": str(bin_dir), "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}


def test_test_script_says_what_it_installs_with_apt_and_why_before_it_does(tmp_path):
    env = _tools_without_redis(tmp_path / "bin")
    run = subprocess.run(
        [str(ROOT / "scripts" / "test"), "--collect-only"], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120,
    )
    lines = run.stdout.splitlines()
    # apt-get "installed" nothing here, so the script then stops with what to do by hand.
    assert run.returncode == 2, run.stdout
    why = next(i for i, line in enumerate(lines) if "redis-server is not installed" in line)
    announce = next(i for i, line in enumerate(lines) if "installing redis-server with apt" in line)
    update, install = lines.index("APT-GET update -qq"), lines.index("APT-GET install -y -qq redis-server")
    assert why < announce < update < install, lines
    assert "apt-get install -y redis-server" in lines[announce]
    assert "the tests need Redis" in lines[-1]


def test_lint_runs_ruff_and_the_code_is_clean():
    """`make lint` (./scripts/test --lint): ruff with pyproject.toml's rules, the check ./scripts/test
    runs before pytest."""
    run = subprocess.run([str(ROOT / "scripts" / "test"), "--lint"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ruff: no problems" in run.stderr
