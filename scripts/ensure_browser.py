"""Make sure the browser used by the admin browser tests is installed.

The tests drive Debian's Chromium package through Playwright (Playwright's own browser downloads
are not used). Run before the test suite: returns at once when Chromium is already there, installs
it with apt-get otherwise, and exits non-zero with the reason when it cannot.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
PACKAGE = "chromium"


def fail(message: str) -> None:
    print(f"ensure_browser: ERROR: {message}", file=sys.stderr)
    sys.exit(1)


def apt_get(*args: str) -> None:
    command = ["apt-get", *args]
    if os.geteuid() != 0:
        if not shutil.which("sudo"):
            fail(f"{CHROMIUM} is missing and installing it needs root; run `apt-get install {PACKAGE}`.")
        command = ["sudo", "-n", *command]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.strip().splitlines()[-20:])
        fail(f"`{' '.join(command)}` failed with exit code {result.returncode}:\n{tail}")


def main() -> None:
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        print(f"ensure_browser: {CHROMIUM} is present, nothing to do.")
        return
    if not shutil.which("apt-get"):
        fail(f"{CHROMIUM} is missing and apt-get is not available; install Chromium at that path.")
    apt_get("update", "-q")
    apt_get("install", "-y", "-q", "--no-install-recommends", PACKAGE)
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        fail(f"apt-get installed {PACKAGE} but {CHROMIUM} is still missing.")
    print(f"ensure_browser: installed {PACKAGE} with apt-get ({CHROMIUM}).")


if __name__ == "__main__":
    main()
