"""Server-side hooks: the workflow rule (spec §7.5) and the push log.

How they run, and why they cannot be bypassed:

* The server writes the scripts below into ``<data_dir>/hooks`` at start and runs every
  ``git receive-pack`` (and upload-pack) with ``core.hooksPath=<that dir>`` at command-line
  scope (``GIT_CONFIG_COUNT``, the environment form of ``git -c``). That scope outranks the
  repository's own config, so a repository's ``hooks/`` directory is never used, and
  repositories created before this code (the demo's) get the same hooks with no migration.
* What a hook may allow is decided by the server, through ``authz.decide`` with
  ``WORKFLOWS_WRITE``, and handed down in environment variables that the server sets on the
  child by name. A client cannot set an environment variable: receive-pack gets only what
  ``http.py`` builds, never a copy of the request headers.
* Missing or unexpected variables fail closed: the shell script allows a ref only when told
  ``allow`` or when git itself shows that the update brings no change under
  ``.github/workflows/``; otherwise the Python check runs, and it refuses the ref if it cannot
  complete.

The ``update`` hook runs once per ref and can refuse that ref alone, so other refs of the same
push still land. Its reason goes to ``$TOKENFORGE_PUSH_DIR/rejected``; ``pktline.py`` puts it into
receive-pack's report, where git prints it as ``! [remote rejected] <ref> -> <ref> (<reason>)``.
``post-receive`` appends the refs that were actually updated to ``$TOKENFORGE_PUSH_DIR/updated``,
which the server reads to record the push (``repos.services.record_push``).

The Python entry point (``python -m tokenforge.git.hooks update REF OLD NEW``) imports nothing
from Tokenforge beyond ``messages``: it starts only for a ref whose new commits touch the
workflow directory, and a light import keeps that to the interpreter's own start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

# The environment contract between the server (http.py) and the hooks.
WORKFLOWS = "TOKENFORGE_WORKFLOWS"  # "allow": the token may create or change workflow files
TOKEN_KIND = "TOKENFORGE_TOKEN_KIND"  # noqa: S105 (a variable name) — "classic" | "fine-grained": selects the message's wording
PUSH_DIR = "TOKENFORGE_PUSH_DIR"  # a directory private to this push
PYTHON = "TOKENFORGE_PYTHON"  # the server's interpreter, which can import tokenforge
GIT = "TOKENFORGE_GIT"
REJECTED_FILE = "rejected"
UPDATED_FILE = "updated"

WORKFLOW_DIR = ".github/workflows/"

# The update hook decides in the shell whenever it can *allow*, so that the common push — a token
# with the grant, a deletion, or commits that do not touch .github/workflows/ — pays no interpreter
# start-up (~40 ms of CPU per ref). The shell never refuses: anything but positive evidence that
# no new commit touches the directory runs the Python check, which alone refuses and words why.
#
# That evidence is the Python check's own first step, in git: the commits reachable from the new
# value and from no existing ref (`rev-list NEW --not --all`, in receive-pack's quarantine), each
# diffed against its parents (`diff-tree --stdin -r -c --root --no-renames`, as introduced_workflows
# runs it) and limited to the directory. No commit, or no path listed → nothing to check → allowed;
# Python would have returned the same (it also lets deletions and submodules through, which here
# merely go on to Python). Any failure — a git that cannot run, an argument that is not an object
# id, a pipeline cut short — leaves the evidence missing, and Python runs: the check fails closed.
# "$3" goes to git only once it is known to be hex (receive-pack passes an object id there).
# sh has no pipefail (`a | b` reports only b's status), so rev-list is not piped: its output is
# taken whole and its status tested; diff-tree is then fed by the shell's printf builtin from that
# string, and diff-tree's own status is tested (it reads its input to the end before succeeding).
# Anything but "allow" in TOKENFORGE_WORKFLOWS — including an unset variable — means "check".
_UPDATE = """#!/bin/sh
# Tokenforge: the workflow rule (see tokenforge/git/hooks.py). Installed by the server; edits are overwritten.
test "$TOKENFORGE_WORKFLOWS" = allow && exit 0
case "$3" in
*[!0-9a-f]* | "") ;;
*[!0]*)
	git=${TOKENFORGE_GIT:-git}
	if revs=$("$git" rev-list "$3" --not --all); then
		test -z "$revs" && exit 0
		if paths=$(printf '%s\\n' "$revs" | "$git" diff-tree --stdin -r -c --root --no-renames --no-commit-id \\
			--name-only -- .github/workflows/); then
			test -z "$paths" && exit 0
		fi
	fi
	;;
*) exit 0 ;; # all zeros: a deletion adds nothing
esac
exec "$TOKENFORGE_PYTHON" -P -m tokenforge.git.hooks update "$@"
"""

_POST_RECEIVE = """#!/bin/sh
# Tokenforge: records which refs a push updated (see tokenforge/git/hooks.py).
test -n "$TOKENFORGE_PUSH_DIR" || exit 0
cat >> "$TOKENFORGE_PUSH_DIR/updated"
"""

SCRIPTS = {"update": _UPDATE, "post-receive": _POST_RECEIVE}


def install(directory: Path) -> Path:
    """Write the hook scripts (atomically, so a running push never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in SCRIPTS.items():
        target = directory / name
        if target.exists() and target.read_text() == text and os.access(target, os.X_OK):
            continue
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o755)  # noqa: S103 (a hook must be executable by git; nothing secret in it)
        os.replace(tmp, target)
    return directory


def read_rejections(push_dir: Path) -> dict[str, str]:
    path = push_dir / REJECTED_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    reasons: dict[str, str] = {}
    for line in text.splitlines():
        ref, sep, reason = line.partition("\t")
        if sep:
            reasons[ref] = reason
    return reasons


def read_updated(push_dir: Path) -> list[tuple[str, str, str]]:
    """``(old, new, ref)`` for each ref ``post-receive`` saw updated, in push order."""
    try:
        text = (push_dir / UPDATED_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [(parts[0], parts[1], parts[2]) for line in text.splitlines() if len(parts := line.split(" ")) == 3]


# -- the workflow check (runs inside receive-pack, in its quarantine environment) -------------


def _git(git: str, *args: str, stdin: str | None = None) -> str:
    # The environment is inherited unchanged on purpose: receive-pack's GIT_DIR and quarantine
    # variables are what make the pushed (not yet accepted) objects visible.
    done = subprocess.run([git, *args], input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


def introduced_workflows(git: str, new: str) -> list[tuple[str, str]]:
    """``(path, blob)`` of workflow files that the push's new commits add or change.

    "New" is every commit reachable from ``new`` and from no existing ref — exactly what this push
    brings. Each is diffed against its parents (a merge: against all of them, ``-c``, so only a
    version that no parent had — an evil merge — counts; a side's own commits are checked in
    their own right). Checking every new commit rather than only the final tree matters: a
    change made and reverted in the same push would otherwise leave a commit with the changed
    workflow in the repository, ready to be pushed to another branch as an "old" commit.
    Deletions are not creations or updates and are allowed.
    """
    commit = subprocess.run(
        [git, "rev-parse", "--verify", "-q", f"{new}^{{commit}}"], capture_output=True, text=True, check=False
    )
    if commit.returncode != 0:
        return []  # a tag of a tree or a blob: it carries no branch history
    revs = _git(git, "rev-list", "--reverse", commit.stdout.strip(), "--not", "--all")
    if not revs.strip():
        return []
    raw = _git(
        git, "diff-tree", "--stdin", "-r", "-c", "--root", "--no-renames", "--no-commit-id", "-z", "--",
        WORKFLOW_DIR, stdin=revs,
    )  # fmt: skip
    found: dict[tuple[str, str], None] = {}
    fields = raw.split("\0")
    for meta, path in zip(fields[0::2], fields[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        # ":<modes…> <shas…> <status>": one mode and one sha per parent, then the result's.
        parts = meta.lstrip(":").split(" ")
        half = (len(parts) - 1) // 2
        mode, blob = parts[half - 1], parts[2 * half - 1]
        if blob.strip("0") and mode != "160000":
            found[(path, blob)] = None
    return list(found)


def already_on_a_branch(git: str, files: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The ``(path, blob)`` pairs present, identically, at the tip of some branch.

    GitHub's exception (spec §7.3): a workflow file may be pushed without the grant when the same
    file with the same content already exists on another branch.
    """
    files = list(files)
    tips = _git(git, "for-each-ref", "--format=%(objectname)", "refs/heads/").split()
    if not tips or not files:
        return set()
    queries = [(tip, path, blob) for tip in tips for path, blob in files]
    answer = _git(
        git, "cat-file", "--batch-check=%(objectname)", stdin="".join(f"{tip}:{path}\n" for tip, path, _ in queries)
    ).splitlines()
    return {(path, blob) for (_, path, blob), got in zip(queries, answer, strict=False) if got == blob}


def unpermitted_workflow(git: str, new: str) -> str | None:
    """The first workflow file this ref update would create or change without permission."""
    introduced = introduced_workflows(git, new)
    if not introduced:
        return None
    present = already_on_a_branch(git, introduced)
    return next((path for path, blob in introduced if (path, blob) not in present), None)


def _reject(ref: str, reason: str) -> int:
    push_dir = os.environ.get(PUSH_DIR)
    if push_dir:
        with open(os.path.join(push_dir, REJECTED_FILE), "a", encoding="utf-8") as handle:
            handle.write(f"{ref}\t{reason}\n")
    return 1


def main(argv: Sequence[str]) -> int:
    from tokenforge.git.messages import workflow_refused

    if len(argv) != 4 or argv[0] != "update":
        print("usage: python -m tokenforge.git.hooks update REF OLD NEW", file=sys.stderr)
        return 2
    ref, _old, new = argv[1:]
    if os.environ.get(WORKFLOWS) == "allow":
        return 0
    if not new.strip("0"):
        return 0  # a deletion adds nothing
    git = os.environ.get(GIT) or "git"
    try:
        path = unpermitted_workflow(git, new)
    except (subprocess.CalledProcessError, OSError, IndexError, ValueError):
        # Fail closed: a check that could not run must not let a workflow change through.
        return _reject(ref, "could not check this update for workflow files; please try again")
    if path is None:
        return 0
    return _reject(ref, workflow_refused(path, fine_grained=os.environ.get(TOKEN_KIND) == "fine-grained"))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
