#!/usr/bin/env python3
"""Check an extracted Verity evidence pack: run ``python verify.py`` in the pack's folder.

Every file listed in manifest.json must be present with the listed size and SHA-256, and no other
file may be present; audit_log.jsonl, when present, must be an unbroken run of the audit chain from
the hash the manifest gives, every event matching its hash (an event withheld from a reader with a
partial view is in the pack by its link alone, and still chains). Prints OK and exits 0, or names each
file (and audit_log.jsonl line) that is wrong and exits 1.
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
    problems.extend(check_audit_log(root, manifest))
    return problems


def check_audit_log(root, manifest):
    """Re-check the audit chain segment line by line; the problems found, first one first."""
    segment = (manifest.get("audit_chain") or {}).get("segment")
    if not segment:
        return []
    hash_event = globals().get("event_hash")
    link = globals().get("chain_hash")
    if hash_event is None or link is None:
        return [f"{segment['path']}: this verify.py lacks the audit chain's canonical form"]
    path = os.path.join(root, segment["path"])
    if not os.path.isfile(path):
        return []  # already reported as missing
    previous = segment["prev_chain_hash"]
    expected_seq = segment["first_seq"]
    count = 0
    with open(path, encoding="utf-8") as handle:
        for number, text in enumerate(handle, start=1):
            where = f"{segment['path']} line {number}"
            count = number
            try:
                line = json.loads(text)
                seq = line["seq"]
            except (ValueError, KeyError, TypeError):
                return [f"{where}: not a chain link"]
            where += f" (seq {seq})"
            if seq != expected_seq:
                return [f"{where}: expected seq {expected_seq}; a link is missing or out of order"]
            if line.get("withheld") is True and line.get("event") is None:
                # Outside the reader's scope: only the link is in the pack, and it still chains.
                digest = line["event_hash"]
            elif line.get("event") is None:
                return [f"{where}: the event was missing from the register when the pack was made"]
            else:
                try:
                    digest = hash_event(line["event"])
                except (KeyError, TypeError, ValueError) as exc:
                    return [f"{where}: the event cannot be read ({exc})"]
                if digest != line["event_hash"]:
                    return [f"{where}: the event does not match its event_hash (it was changed)"]
            if link(previous, digest) != line["chain_hash"]:
                return [f"{where}: chain_hash does not follow from the previous link"]
            previous = line["chain_hash"]
            expected_seq = seq + 1
    if count != segment["lines"] or previous != segment["last_chain_hash"]:
        return [
            f"{segment['path']}: has {count} lines ending at {previous}, manifest says "
            f"{segment['lines']} ending at {segment['last_chain_hash']}"
        ]
    return []


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
