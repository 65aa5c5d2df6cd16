#!/usr/bin/env python3
"""Check an extracted Verity evidence pack: run ``python verify.py`` in the pack's folder.

Every file listed in manifest.json must be present with the listed size and SHA-256, and no other
file may be present. Prints OK and exits 0, or names each file that is wrong and exits 1.
Standard library only.
"""

import hashlib
import json
import os
import sys

MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


def sha256_of(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def present_files(root):
    found = set()
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            relative = os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
            found.add(relative)
    found.discard(MANIFEST)
    return found


def check(root):
    """The problems found in the pack at ``root``, first one first (an empty list when all is well)."""
    manifest_path = os.path.join(root, MANIFEST)
    try:
        with open(manifest_path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except (OSError, ValueError) as exc:
        return [f"{MANIFEST}: cannot be read ({exc})"]
    problems = []
    listed = set()
    for entry in manifest.get("files", []):
        path = entry["path"]
        listed.add(path)
        full = os.path.join(root, *path.split("/"))
        if not os.path.isfile(full):
            problems.append(f"{path}: listed in {MANIFEST} but missing")
            continue
        sha256, size = sha256_of(full)
        if size != entry["size"]:
            problems.append(f"{path}: size is {size} bytes, manifest says {entry['size']}")
        elif sha256 != entry["sha256"]:
            problems.append(f"{path}: SHA-256 is {sha256}, manifest says {entry['sha256']}")
    for path in sorted(present_files(root) - listed):
        problems.append(f"{path}: present but not listed in {MANIFEST}")
    return problems


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    problems = check(root)
    if problems:
        for problem in problems:
            print(f"FAIL {problem}")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
