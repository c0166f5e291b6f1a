#!/usr/bin/env python3
"""Set up and run Osmanthus on a machine that has only python3.

    python3 dev.py demo [ARGS...]   build the demo city and print its distribution
    python3 dev.py test [ARGS...]   run the whole test suite (SQLite and PostgreSQL)
    python3 dev.py setup            only create .venv and install the locked dependencies

Each command first makes sure .venv exists and holds exactly requirements.lock (it
reinstalls when the lock file changes). Arguments after the command go to
`osmanthus demo` or to pytest.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LOCK = ROOT / "requirements.lock"
STAMP = VENV / ".osmanthus-installed"
PG_HOST, PG_PORT = "127.0.0.1", 5432
CHROMIUM = Path("/usr/bin/chromium")
NGINX = Path("/usr/sbin/nginx")

#: Front-end assets, from the npm registry, checked against the registry's integrity hash
#: and served by our own server (no CDN). htmx 2.0.x on purpose: 4.x is a new major.
VENDOR = ROOT / "src" / "osmanthus" / "web" / "static" / "vendor"
TEST_VENDOR = VENV / "test-assets"  # used by the tests only, never served
ASSETS = {
    VENDOR / "htmx.min.js": (
        "https://registry.npmjs.org/htmx.org/-/htmx.org-2.0.11.tgz",
        "sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==",
        "package/dist/htmx.min.js",
    ),
    # Swagger UI for /docs (the API's interactive documentation), served by our server.
    VENDOR / "swagger-ui-bundle.js": (
        "https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-5.36.0.tgz",
        "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
        "package/swagger-ui-bundle.js",
    ),
    VENDOR / "swagger-ui.css": (
        "https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-5.36.0.tgz",
        "sha512-Lt6/Kb0gXmLdiabLhvso4VdJP9V7qJWB0zh0gzeXUV3+CMOTzMmvpJRSXN7EAjfwixwmoi9ezDbLHiexC7lA9A==",
        "package/swagger-ui.css",
    ),
    # axe-core: the accessibility checks the browser tests run on every page.
    TEST_VENDOR / "axe.min.js": (
        "https://registry.npmjs.org/axe-core/-/axe-core-4.14.1.tgz",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        "package/axe.min.js",
    ),
}


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def run(*args: str | Path, **kwargs: object) -> None:
    subprocess.run([str(a) for a in args], check=True, **kwargs)  # type: ignore[call-overload]


def setup() -> None:
    """Create .venv and install the lock file and the package, when anything changed."""
    wanted = hashlib.sha256(LOCK.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        compile_sources()
        return
    if not (BIN / "python").exists():
        say("creating .venv")
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    say("installing locked dependencies (requirements.lock)")
    pip = [BIN / "python", "-m", "pip", "--disable-pip-version-check", "-q"]
    run(*pip, "install", "--require-hashes", "-r", LOCK)
    run(*pip, "install", "--no-deps", "-e", ROOT)
    STAMP.write_text(wanted)
    compile_sources()


def compile_sources() -> None:
    """Byte-compile the package as a wheel install would (an editable install does not),
    so that each command starts without compiling its modules, even where
    PYTHONDONTWRITEBYTECODE is set; only changed files are compiled again."""
    run(BIN / "python", "-m", "compileall", "-q", ROOT / "src" / "osmanthus")


def fetch_assets() -> None:
    """Download the front-end assets from the npm registry once, checking their hashes."""
    fetched: dict[str, bytes] = {}  # one download per package
    for target, (url, integrity, member) in ASSETS.items():
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if url not in fetched:
            say(f"fetching {url}")
            with urllib.request.urlopen(url, timeout=60) as response:
                fetched[url] = response.read()
        tarball = fetched[url]
        algorithm, _, expected = integrity.partition("-")
        found = base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode()
        if found != expected:
            raise SystemExit(f"[dev] {url}: integrity {algorithm} mismatch; refusing it")
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            data = archive.extractfile(member)
            if data is None:
                raise SystemExit(f"[dev] {url}: no {member} in the package")
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(data.read())
            temporary.replace(target)


#: What the tests need from Debian's packages: the browser tests drive Chromium; the
#: deployment test puts nginx in front of the service.
SYSTEM_PACKAGES = {CHROMIUM: "chromium", NGINX: "nginx"}


def ensure_system_packages() -> None:
    """Install (as root) the Debian packages the tests need that are missing: only those,
    without recommended packages, and without upgrading anything already installed."""
    missing = [package for path, package in SYSTEM_PACKAGES.items() if not path.exists()]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "--no-upgrade"]
        say(f"installing {', '.join(missing)} from Debian's packages: {' '.join(command)} ...")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run([*command, *missing], check=False, env=env).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], check=False, env=env)
            subprocess.run([*command, *missing], check=False, env=env)
    for path, package in SYSTEM_PACKAGES.items():
        if not path.exists():
            raise SystemExit(
                f"[dev] the tests need {path} (Debian package {package}): "
                f"apt-get install -y --no-install-recommends {package}"
            )


def postgres_up() -> bool:
    try:
        with socket.create_connection((PG_HOST, PG_PORT), timeout=2):
            return True
    except OSError:
        return False


def ensure_postgres() -> None:
    """Start the local PostgreSQL cluster if it is installed but stopped."""
    if postgres_up() or not shutil.which("pg_ctlcluster"):
        return
    versions = sorted(p.name for p in Path("/etc/postgresql").glob("*"))
    if versions:
        say(f"starting PostgreSQL {versions[-1]}")
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
            check=False,
        )


def parallel(args: list[str]) -> list[str]:
    """pytest-xdist's options for the whole suite: one worker per core, each test file on
    one worker (its module fixtures, such as a served demo city, built once), the files
    handed out in the order tests/conftest.py puts them (the longest first, so that no
    worker finishes a long file alone at the end); none when the caller chose (-n,
    -p no:xdist) or runs one test."""
    chosen = any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in args)
    if chosen or any("::" in a for a in args):
        return []
    workers = str(max(1, min(os.cpu_count() or 1, 4)))
    return ["-n", workers, "--dist", "loadfile", "--no-loadscope-reorder"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    setup()
    fetch_assets()
    if command == "setup":
        return 0
    if command == "demo":
        return subprocess.call([str(BIN / "osmanthus"), "demo", *rest], cwd=ROOT)
    ensure_postgres()
    ensure_system_packages()
    code = subprocess.call([str(BIN / "python"), "-m", "pytest", *parallel(rest), *rest], cwd=ROOT)
    if code == 5:
        say("pytest collected no tests: that is a failure")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
