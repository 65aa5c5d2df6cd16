"""Run the curl examples of the guides as written, with the real ``curl`` and ``bash``.

An *example* is a fenced ``bash`` block of ``README.md`` or ``docs/*.md`` that runs ``curl`` (or
``verity``, the API guide's function around curl), or that writes a file with a here-document
(``cat > run.json <<JSON``) for the examples after it. Its *documented output* is a fenced block
that follows it with nothing but blank lines between: what the example prints.

Each example runs as a bash script whose lines are numbered as in the document, so a line number
that bash reports (a failing command, the line of a request) is the document's line. Every block
runs with ``set -Eeuo pipefail``: an unset variable, a failing ``jq -e`` or a ``--fail-with-body``
error stops it at that line. The blocks of one document share one shell state in document order
(variables and functions an example defines are there for the examples after it, as in a reader's
terminal) and one working directory.

``curl`` is a shell function around the real binary that records, for each request, the line it
comes from, its arguments, its response headers (``-D``) and its body, then returns curl's own exit
status; the example's options and output are untouched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What a reader sets before running the examples (the API guide says how, at its top).
VARIABLES = {
    "VERITY_URL": "the server's address, without a trailing slash",
    "VERITY_TOKEN": "an API token",
    "CI_PIPELINE_ID": "the CI run's id (GitLab's name; the recipes use it in Idempotency-Keys)",
    "CI_COMMIT_SHA": "the commit the CI run builds",
    "VERITY_NODE": "one web node's host:port, as a load balancer reaches it (deployment guide)",
}

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_SHELL = {"bash", "sh", "shell", ""}
# A request: curl, or the API guide's ``verity`` function, where a command starts.
_REQUEST = re.compile(r"(?:^|[\s|;&(]|\$\()(?:curl|verity)\s", re.MULTILINE)
_HTTP_STATUS = re.compile(r"^HTTP/[\d.]+ (\d{3})", re.MULTILINE)
_KEY = re.compile(r'"([A-Za-z_][\w-]*)"\s*:')
_WRITES_FILE = re.compile(r"\bcat\s*>\s*\S+\s*<<")
_DEFINES_FUNCTION = re.compile(r"^\s*[\w-]+\(\)\s*\{", re.MULTILINE)


@dataclass
class Block:
    lang: str
    line: int  # the document line of the block's first content line
    text: str


@dataclass
class Example:
    path: str  # relative to the repository, e.g. docs/api-guide.md
    line: int  # the document line of the block's first line
    code: str
    output: str | None = None  # the documented output, if the document shows one

    @property
    def id(self) -> str:
        return f"{self.path}:{self.line}"

    @property
    def must_request(self) -> bool:
        """Whether running it must send a request (not when it only defines a function or
        writes a file for later examples)."""
        return not (_WRITES_FILE.search(self.code) or _DEFINES_FUNCTION.search(self.code))

    @property
    def documented_headers(self) -> dict[str, str]:
        """``Name: value`` lines under a documented ``HTTP/1.1 …`` status line."""
        if self.output is None or not _HTTP_STATUS.match(self.output):
            return {}
        found = {}
        for line in self.output.splitlines()[1:]:
            header = re.match(r"^([A-Za-z][\w-]*): (.+)$", line.strip())
            if not header:
                break
            found[header.group(1).lower()] = header.group(2).strip()
        return found

    @property
    def documented_status(self) -> int | None:
        """The status the documented output shows: an ``HTTP/1.1 409 …`` line, or the ``status``
        of Verity's JSON error body (``{"status": 400, "code": …}``)."""
        if self.output is None:
            return None
        found = _HTTP_STATUS.search(self.output)
        if found:
            return int(found.group(1))
        error = re.match(r'\s*\{\s*"status"\s*:\s*(\d{3})\s*,\s*"code"', self.output)
        return int(error.group(1)) if error else None


def blocks(text: str) -> list[Block]:
    found, lang, start, lines = [], None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        fence = _FENCE.match(line)
        if lang is None and fence:
            lang, start, lines = fence.group(1).lower(), number + 1, []
        elif lang is not None and line.strip() == "```":
            found.append(Block(lang, start, "\n".join(lines) + "\n"))
            lang = None
        elif lang is not None:
            lines.append(line)
    return found


def examples(path: Path) -> list[Example]:
    """The curl examples of one document, in document order, each with its documented output."""
    text = path.read_text(encoding="utf-8")
    all_lines = text.splitlines()
    found = []
    parsed = blocks(text)
    for index, block in enumerate(parsed):
        if block.lang not in _SHELL or not (_REQUEST.search(block.text) or _WRITES_FILE.search(block.text)):
            continue
        example = Example(str(path.relative_to(ROOT)), block.line, block.text)
        following = parsed[index + 1] if index + 1 < len(parsed) else None
        if following is not None and following.lang in {"", "json", "text"}:
            end = block.line + block.text.count("\n")  # the closing fence's line
            between = all_lines[end : following.line - 2]  # up to the next opening fence
            if all(not line.strip() for line in between):
                example.output = following.text
        found.append(example)
    return found


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


# --- Running ---------------------------------------------------------------------------------

PRELUDE = r"""
# Sourced on the first line of every example script; see tests/docs_examples.py.
set -Eeuo pipefail
__docs_base=" $(compgen -v | tr '\n' ' ') "
__docs_pid=$BASHPID
if [ -f "$DOCS_STATE" ]; then source "$DOCS_STATE"; fi

__docs_line() {  # the line of the example script that the current command comes from
  local i
  for ((i = 0; i + 1 < ${#BASH_SOURCE[@]}; i++)); do
    if [ "${BASH_SOURCE[i+1]}" = "$DOCS_SCRIPT" ]; then echo "${BASH_LINENO[i]}"; return; fi
  done
  echo 0
}

__docs_error() {
  local rc=$?
  [ -s "$DOCS_RUN/error" ] || echo "$(__docs_line) $rc" > "$DOCS_RUN/error"
}
trap __docs_error ERR

__docs_save() {  # what this example defined, for the examples after it
  [ "$BASHPID" = "$__docs_pid" ] || return 0
  local name
  {
    for name in $(compgen -v); do
      case "$__docs_base" in *" $name "*) continue ;; esac
      case "$name" in __docs_*|BASH_*|FUNCNAME|PIPESTATUS|REPLY|OPTARG|OPTIND|COMP_*|_) continue ;; esac
      declare -p "$name" 2>/dev/null || true
    done
    for name in $(compgen -A function); do
      case "$name" in __docs_*|curl) continue ;; esac
      declare -f "$name"
    done
  } > "$DOCS_STATE.new"
  mv "$DOCS_STATE.new" "$DOCS_STATE"
}
trap __docs_save EXIT

curl() {  # the real curl, recording each request for the test
  local call out="" previous="" arg rc
  call="$DOCS_RUN/calls/$(date +%s%N)-$BASHPID-$RANDOM"
  mkdir -p "$call"
  __docs_line > "$call/line"
  printf '%s\0' "$@" > "$call/argv"
  pwd > "$call/cwd"
  for arg in "$@"; do
    case "$previous" in -o|--output) out=$arg ;; esac
    previous=$arg
  done
  if [ -n "$out" ]; then
    rc=0
    command curl -D "$call/headers" "$@" || rc=$?
    if [ -f "$out" ]; then cp "$out" "$call/body"; fi
  else
    { rc=0; command curl -D "$call/headers" "$@" || rc=$?; echo "$rc" > "$call/rc"; } | tee "$call/body"
    rc=$(cat "$call/rc")
  fi
  echo "$rc" > "$call/rc"
  return "$rc"
}
"""


@dataclass
class Call:
    line: int
    argv: list[str]
    cwd: str
    status: int | None
    headers: dict[str, str]
    body: bytes
    exit_code: int

    @property
    def method(self) -> str:
        for flag, value in zip(self.argv, self.argv[1:], strict=False):
            if flag in ("-X", "--request"):
                return value.upper()
        if "-G" in self.argv or "--get" in self.argv:
            return "GET"
        sends = ("-d", "--data", "--data-binary", "--data-raw", "--data-urlencode", "-F", "--form")
        return "POST" if any(arg in sends or arg.startswith("--form-") for arg in self.argv) else "GET"

    def header(self, name: str) -> str | None:
        for flag, value in zip(self.argv, self.argv[1:], strict=False):
            if flag in ("-H", "--header") and value.lower().startswith(name.lower() + ":"):
                return value.split(":", 1)[1].strip()
        return None

    @property
    def reads_stdin(self) -> bool:
        return any(arg == "@-" or arg.endswith("=@-") for arg in self.argv)

    @property
    def checks_status_itself(self) -> bool:
        """``-w '%{http_code}'``: the example reads the status and decides for itself."""
        return any("%{http_code}" in arg or "%{response_code}" in arg for arg in self.argv)


@dataclass
class Result:
    example: Example
    exit_code: int
    stdout: str
    stderr: str
    error_line: int | None  # where ``set -e`` stopped the example, if a command failed
    calls: list[Call] = field(default_factory=list)
    replays: list[tuple[Call, Call]] = field(default_factory=list)


def _parse_headers(raw: str) -> tuple[int | None, dict[str, str]]:
    """The last response's status and headers (a ``100 Continue`` comes before the real one)."""
    status, headers = None, {}
    for line in raw.splitlines():
        line = line.strip()
        found = _HTTP_STATUS.match(line)
        if found:
            status, headers = int(found.group(1)), {}
        elif ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return status, headers


def _read_call(directory: Path) -> Call:
    def read(name: str) -> str:
        path = directory / name
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    status, headers = _parse_headers(read("headers"))
    body_path = directory / "body"
    body = body_path.read_bytes() if body_path.exists() else b""
    if body.startswith(b"HTTP/"):  # curl -i printed the head before the body
        body = re.split(rb"\r?\n\r?\n", body, maxsplit=1)[-1] if re.search(rb"\r?\n\r?\n", body) else b""
    return Call(
        line=int(read("line").strip() or 0),
        argv=[arg for arg in read("argv").split("\0")[:-1]],
        cwd=read("cwd").strip(),
        status=status,
        headers=headers,
        body=body,
        exit_code=int(read("rc").strip() or -1),
    )


class Runner:
    """Runs the examples of documents in one working directory, one shell state per document."""

    def __init__(self, workdir: Path, env: dict[str, str]):
        self.workdir = workdir
        self.env = env
        self.prelude = workdir / ".docs" / "prelude.sh"
        self.prelude.parent.mkdir(parents=True, exist_ok=True)
        self.prelude.write_text(PRELUDE, encoding="utf-8")

    def run(self, example: Example, variables: dict[str, str], *, timeout: float = 120) -> Result:
        slug = re.sub(r"\W", "-", example.id)
        run = self.workdir / ".docs" / slug
        shutil.rmtree(run, ignore_errors=True)
        (run / "calls").mkdir(parents=True)
        script = run / "example.sh"
        # Line 1 loads the prelude; the block starts at its own line of the document.
        script.write_text(
            f'source "{self.prelude}"' + "\n" * (example.line - 1) + example.code, encoding="utf-8"
        )
        state = self.workdir / ".docs" / (re.sub(r"\W", "-", example.path) + ".state")
        env = {
            **self.env,
            **variables,
            "DOCS_SCRIPT": str(script),
            "DOCS_RUN": str(run),
            "DOCS_STATE": str(state),
        }
        # A session of its own, so that a timeout ends the example's curl and sleep too.
        process = subprocess.Popen(
            ["bash", str(script)],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            (run / "error").write_text(f"{example.line} 124")
            stderr += f"\n(still running after {timeout:.0f} s: stopped)"
        error = (run / "error").read_text().split() if (run / "error").exists() else None
        calls = sorted((run / "calls").iterdir(), key=lambda path: int(path.name.split("-")[0]))
        result = Result(
            example=example,
            exit_code=process.returncode,
            stdout=stdout,
            stderr=stderr,
            error_line=int(error[0]) if error else None,
            calls=[_read_call(path) for path in calls],
        )
        for call in result.calls:
            if call.method == "POST" and call.header("Idempotency-Key") and not call.reads_stdin:
                if call.status is not None and call.status != 409 and call.status < 500:
                    result.replays.append((call, self.replay(call, run / "replays", env)))
        return result

    def replay(self, call: Call, directory: Path, env: dict[str, str]) -> Call:
        """Send a request again exactly as the example sent it (same key, same body)."""
        directory.mkdir(exist_ok=True)
        number = len(list(directory.iterdir()))
        out = directory / str(number)
        out.mkdir()
        argv, skip = [], False
        for arg in call.argv:
            if skip:
                skip = False
            elif arg in ("-o", "--output", "-w", "--write-out", "-D", "--dump-header"):
                skip = True
            elif arg not in ("-i", "--include", "-f", "--fail", "--fail-with-body"):
                argv.append(arg)
        subprocess.run(
            ["curl", "-sS", "-D", str(out / "headers"), "-o", str(out / "body"), *argv],
            cwd=call.cwd,
            env=env,
            capture_output=True,
            timeout=60,
        )
        (out / "line").write_text(str(call.line))
        (out / "argv").write_text("\0".join(argv) + "\0")
        (out / "cwd").write_text(call.cwd)
        (out / "rc").write_text("0")
        return _read_call(out)


# --- Checking --------------------------------------------------------------------------------


def json_values(text: str) -> list | None:
    """The JSON values ``text`` holds one after another (``jq`` output), or None if it is not JSON."""
    decoder, values, position = json.JSONDecoder(), [], 0
    text = text.strip()
    while position < len(text):
        try:
            value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        values.append(value)
        while position < len(text) and text[position].isspace():
            position += 1
    return values


def keys(value) -> set[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys(item)}
    return set()


def documented_keys(output: str) -> set[str]:
    """The keys a documented output shows; outputs trimmed with ``…`` are read key by key."""
    body = output.split("\n\n", 1)[-1] if _HTTP_STATUS.match(output) else output
    values = json_values(body)
    if values is not None:
        return keys(values)
    return set(_KEY.findall(body))


def printed_headers(stdout: str) -> dict[str, str]:
    """The response headers an example printed (``curl -i``, or ``grep`` of them)."""
    found = {}
    for line in stdout.splitlines():
        header = re.match(r"^([A-Za-z][\w-]*): (.+)$", line.strip())
        if header:
            found[header.group(1).lower()] = header.group(2).strip()
    return found


def printed_keys(stdout: str) -> set[str] | None:
    """The keys of what an example printed (``curl -i`` headers left out); None if not JSON."""
    if _HTTP_STATUS.match(stdout):
        stdout = re.split(r"\r?\n\r?\n", stdout, maxsplit=1)[-1]
    values = json_values(stdout)
    return None if values is None else keys(values)


def problems(result: Result) -> list[str]:
    """What an example did that its document does not say, each naming the document's line."""
    example = result.example
    found = []

    def where(line: int) -> str:
        return f"{example.path}:{line}"

    if not result.calls and example.must_request:
        found.append(f"{example.id}: the example made no request")
    expected = example.documented_status
    for call in result.calls:
        if call.status is None:
            found.append(f"{where(call.line)}: no response (curl exit {call.exit_code})")
        elif call.checks_status_itself:
            if call.status >= 500:
                found.append(f"{where(call.line)}: {call.status} from {call.method} {_url(call)}")
        elif expected is not None:
            if call.status != expected:
                found.append(
                    f"{where(call.line)}: {call.status} from {call.method} {_url(call)}, the document "
                    f"shows {expected}: {_body(call)}"
                )
        elif not 200 <= call.status < 300:
            found.append(f"{where(call.line)}: {call.status} from {call.method} {_url(call)}: {_body(call)}")
    for first, again in result.replays:
        if again.status != first.status or again.headers.get("idempotent-replayed") != "true":
            found.append(
                f"{where(first.line)}: the retry with the same Idempotency-Key answered {again.status} "
                f"(Idempotent-Replayed: {again.headers.get('idempotent-replayed')}), not the stored "
                f"{first.status}: {_body(again)}"
            )
        elif first.body and again.body != first.body and not _withheld_on_replay(first, again):
            found.append(f"{where(first.line)}: the retry with the same Idempotency-Key got another body")
    if result.error_line is not None:
        found.append(
            f"{where(result.error_line)}: the example stopped here (exit {result.exit_code}): "
            f"{result.stderr.strip()[-1500:]}"
        )
    printed = printed_headers(result.stdout)
    for name, value in example.documented_headers.items():
        if printed.get(name) != value:
            found.append(f"{example.id}: printed {name}: {printed.get(name)!r}, the document shows {value!r}")
    if example.output is not None and result.exit_code == 0:
        wanted, got = documented_keys(example.output), printed_keys(result.stdout)
        if wanted and got is None:
            found.append(
                f"{example.id}: the document shows JSON, the example printed {result.stdout[:500]!r}"
            )
        elif wanted and not wanted <= got:
            found.append(
                f"{example.id}: the output lacks the documented keys {sorted(wanted - got)}: "
                f"{result.stdout[:1000]}"
            )
    return found


def _withheld_on_replay(first: Call, again: Call) -> bool:
    """A webhook endpoint's secret is shown once: a replayed create answers it as ``null``."""
    try:
        original, replayed = json.loads(first.body), json.loads(again.body)
    except ValueError:
        return False
    return (
        isinstance(original, dict)
        and replayed.get("secret") is None
        and {**original, "secret": None} == replayed
    )


def _url(call: Call) -> str:
    return next((arg for arg in call.argv if arg.startswith("http")), "?")


def _body(call: Call) -> str:
    return call.body[:600].decode("utf-8", errors="replace")


def minimal_env(home: Path) -> dict[str, str]:
    """A reader's shell: no Django or database settings leak from the test process."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "TMPDIR": str(home),
    }
