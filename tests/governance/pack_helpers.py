"""Building an evidence pack into a test's folder and running its ``verify.py``."""

import datetime
import subprocess
import sys
import zipfile

from governance.packs import PackScope
from governance.packs.builder import write_pack

TODAY = datetime.date.today()


def build_and_extract(tmp_path, user, frameworks=(), **scope) -> tuple[dict, object]:
    """Write a pack of the last 30 days for ``user`` and extract it; the manifest and the folder."""
    target = tmp_path / "pack.zip"
    with open(target, "wb") as handle:
        manifest = write_pack(
            PackScope(
                frameworks=tuple(frameworks),
                user=user,
                start=TODAY - datetime.timedelta(days=30),
                end=TODAY,
                **scope,
            ),
            handle,
        )
    extracted = tmp_path / "pack"
    with zipfile.ZipFile(target) as archive:
        archive.extractall(extracted)
    return manifest, extracted


def run_verify(folder) -> subprocess.CompletedProcess:
    """``python verify.py`` in an extracted pack."""
    return subprocess.run(
        [sys.executable, "verify.py"], cwd=folder, capture_output=True, text=True, timeout=60, check=False
    )
