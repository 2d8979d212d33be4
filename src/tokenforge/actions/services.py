"""Workflows found in the repository, and the runs that ``workflow_dispatch`` records.

A workflow is a ``.yml``/``.yaml`` file directly under ``.github/workflows/`` on the default
branch (GitHub ignores subdirectories). Each is registered in ``workflows`` the first time it is
seen, so its id stays the same for as long as the repository exists, even if the file is removed
and comes back. Nothing executes a run: a dispatch is recorded faithfully (who, with which token,
at which commit, with which inputs), numbered per workflow as GitHub numbers runs.

Workflow files are read with a deliberately small YAML reader (``parse_workflow``): only the
top-level ``name`` and the trigger names under ``on`` matter here, and reading just those avoids
a YAML dependency and any chance of a crafted file exhausting memory. A file it cannot read
keeps its path as its name and has no triggers, so it can be listed but not dispatched.

Git output is read with ``core.quotePath`` on (non-ASCII path bytes come back as octal escapes),
because the storage helper decodes output as UTF-8 and a pushed file name is arbitrary bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from tokenforge.accounts.models import Organization, User
from tokenforge.actions.models import Workflow, WorkflowRun
from tokenforge.audit.services import record
from tokenforge.config import Settings
from tokenforge.errors import Invalid, NotFound
from tokenforge.repos.models import Repository
from tokenforge.repos.services import repo_path
from tokenforge.repos.storage import GitError, run_git
from tokenforge.tokens.models import Token

WORKFLOWS_DIR = ".github/workflows"
WORKFLOW_SUFFIXES = (".yml", ".yaml")
# Larger files are listed (by path) but not parsed: no real workflow comes near this.
MAX_WORKFLOW_BYTES = 512 * 1024
PATH_MAX = 1024  # workflows.path
NAME_MAX = 255  # workflows.name
MAX_INPUTS = 25  # GitHub's limit on workflow_dispatch inputs
MAX_INPUTS_CHARS = 65_535  # GitHub's limit on the inputs payload
INT32_MAX = 2**31 - 1
RUN_STATUSES = frozenset({"requested", "queued", "pending", "waiting", "in_progress", "completed"})

InputValue = str | bool | int | float


class DispatchRefused(Invalid):
    """A dispatch GitHub refuses with a bare 422 message (no ``errors[]``): unknown ref, no
    ``workflow_dispatch`` trigger, disabled workflow. Clients match on these exact texts."""


# -- reading workflow files ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkflowFile:
    path: str
    name: str | None  # the top-level ``name:``; None when absent or unreadable
    events: frozenset[str]  # the trigger names under ``on:``

    @property
    def display_name(self) -> str:
        # GitHub shows the path when the file has no name.
        return (self.name or self.path)[:NAME_MAX]

    @property
    def dispatchable(self) -> bool:
        return "workflow_dispatch" in self.events


# A mapping key on its own line: "key:" or "key: value", the key plain or quoted. Workflow keys
# are identifiers, so the plain form is narrow on purpose.
_KEY_RE = re.compile(
    r"""^(?:"(?P<dq>[^"\\]*)"|'(?P<sq>[^']*)'|(?P<plain>[A-Za-z_][\w.-]*))\s*:(?:\s+(?P<value>.*))?$"""
)


def _strip_comment(line: str) -> str:
    """The line without a trailing ``# comment`` (a ``#`` inside quotes is text)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (i == 0 or line[i - 1] in " \t[{,:"):
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _scalar(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        try:
            value = json.loads(text)  # YAML's double-quoted escapes are JSON's, nearly enough
        except ValueError:
            return text[1:-1]
        return value if isinstance(value, str) else text[1:-1]
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    return text


def _flow_items(text: str) -> list[str]:
    """The entries of a flow sequence or mapping (``[a, b]``, ``{a: x, b: {c: d}}``): for a
    mapping, its keys. Only the outermost level counts."""
    inner = text.strip()[1:-1]
    items, depth, current, quote = [], 0, "", ""
    for ch in inner:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(current)
            current = ""
            continue
        current += ch
    items.append(current)
    keys = []
    for item in items:
        head = item.strip()
        if text.strip().startswith("{"):
            match = re.match(r"""^("[^"]*"|'[^']*'|[^:]*)""", head)
            head = match.group(1) if match else head
        if head.strip():
            keys.append(_scalar(head))
    return keys


def _depth(text: str) -> int:
    """How many brackets ``text`` leaves open (negative: closes more than it opens)."""
    return text.count("[") + text.count("{") - text.count("]") - text.count("}")


def parse_workflow(text: str) -> tuple[str | None, frozenset[str]]:
    """The top-level ``name`` and the trigger names under ``on`` of a workflow file.

    Understands the forms workflows use: ``on: push``, ``on: [push, workflow_dispatch]``,
    ``on: {push: …}``, a block list or a block mapping under ``on:`` (quoted keys too, since
    ``"on":`` is how some authors dodge YAML 1.1's ``on`` = true), and block scalars for ``name``.
    """
    lines = [_strip_comment(raw) for raw in text.removeprefix("\ufeff").splitlines()]
    name: str | None = None
    events: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line or line[0] in " \t-" or line in ("---", "..."):
            continue
        match = _KEY_RE.match(line)
        if match is None:
            continue
        key = match.group("dq") or match.group("sq") or match.group("plain") or ""
        value = (match.group("value") or "").strip()
        # The lines that belong to this key: indented ones, and (YAML allows it) a block
        # sequence at column 0 directly under the key.
        block: list[str] = []
        while i < len(lines) and (not lines[i] or lines[i][0] in " \t" or lines[i].startswith("- ")):
            block.append(lines[i])
            i += 1
        if key == "name" and name is None:
            name = _block_scalar(block) if value[:1] in ("|", ">") else (_scalar(value) if value else None)
        elif key == "on":
            events.update(_events(value, block))
    return (name or None), frozenset(event for event in events if re.fullmatch(r"[a-z_]{1,64}", event))


def _block_scalar(block: Sequence[str]) -> str | None:
    text = " ".join(line.strip() for line in block if line.strip())
    return text or None


def _events(value: str, block: Sequence[str]) -> list[str]:
    if value:
        if value[0] in "[{":
            # A flow collection may continue on the following lines until its brackets close;
            # the depth is kept as a running count so a crafted file stays linear to read.
            parts, depth = [value], _depth(value)
            for more in block:
                if depth <= 0:
                    break
                parts.append(more.strip())
                depth += _depth(more)
            return _flow_items(" ".join(parts))
        return [_scalar(value)]
    content = [line for line in block if line.strip()]
    if not content:
        return []
    indent = len(content[0]) - len(content[0].lstrip())
    found = []
    for line in content:
        if len(line) - len(line.lstrip()) != indent:
            continue
        item = line.strip()
        if item.startswith("- "):
            item = item[2:].strip()
            item = item.split(":", 1)[0] if ":" in item and not item.startswith(("'", '"')) else item
            found.append(_scalar(item))
            continue
        match = _KEY_RE.match(item)
        if match is not None:
            found.append(match.group("dq") or match.group("sq") or match.group("plain") or "")
    return found


def _unquote_path(text: str) -> str | None:
    """Undo git's C-style path quoting; None when the bytes are not UTF-8."""
    if not (len(text) >= 2 and text[0] == text[-1] == '"'):
        return text
    escapes = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}
    body, out, i = text[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in escapes:
                out.append(escapes[nxt])
                i += 2
                continue
            octal = body[i + 1 : i + 4]
            if re.fullmatch(r"[0-7]{3}", octal):
                out.append(int(octal, 8) & 0xFF)
                i += 4
                continue
        out += ch.encode()
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, slots=True)
class _Entry:
    path: str
    blob: str
    size: int


def _git(settings: Settings, repo: Repository, *args: str) -> str:
    return run_git(settings.git_binary, repo_path(settings, repo), "-c", "core.quotePath=true", *args)


def _entries(settings: Settings, repo: Repository, commit: str) -> list[_Entry]:
    listing = _git(settings, repo, "ls-tree", "-l", commit, "--", f"{WORKFLOWS_DIR}/")
    entries = []
    for line in listing.splitlines():
        meta, _, quoted = line.partition("\t")
        fields = meta.split()
        if len(fields) != 4 or fields[1] != "blob" or fields[0] not in ("100644", "100755"):
            continue  # directories, symlinks and submodules are not workflows
        path = _unquote_path(quoted)
        if path is None or len(path) > PATH_MAX or not path.endswith(WORKFLOW_SUFFIXES):
            continue
        entries.append(_Entry(path, fields[2], int(fields[3]) if fields[3].isdigit() else MAX_WORKFLOW_BYTES + 1))
    return sorted(entries, key=lambda e: e.path)


def _read(settings: Settings, repo: Repository, entry: _Entry) -> WorkflowFile:
    if entry.size > MAX_WORKFLOW_BYTES:
        return WorkflowFile(entry.path, None, frozenset())
    try:
        text = _git(settings, repo, "cat-file", "blob", entry.blob)
    except UnicodeDecodeError:  # not UTF-8, so not a workflow GitHub would run either
        return WorkflowFile(entry.path, None, frozenset())
    name, events = parse_workflow(text)
    return WorkflowFile(entry.path, name, events)


def workflow_files(settings: Settings, repo: Repository, commit: str) -> list[WorkflowFile]:
    """The workflow files at ``commit``, by path."""
    return [_read(settings, repo, entry) for entry in _entries(settings, repo, commit)]


# -- refs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResolvedRef:
    ref: str  # "refs/heads/main"
    name: str  # "main": GitHub's ``head_branch`` (a tag's name for a tag)
    sha: str  # the commit


_REF_CHARS = re.compile(r"[A-Za-z0-9._/+@=,-]{1,255}")


def _valid_ref_name(ref: str) -> bool:
    # git check-ref-format's rules, narrowed to a safe character set, and without any of
    # rev-parse's syntax ("main~1", "main@{1}", "main^{tree}"), so a ref can name only a ref.
    return bool(
        _REF_CHARS.fullmatch(ref)
        and ".." not in ref
        and "@{" not in ref
        and "//" not in ref
        and ref != "@"
        and not ref.startswith(("/", "-", "."))
        and not ref.endswith(("/", ".", ".lock"))
        and "/." not in ref
    )


def _peel(settings: Settings, repo: Repository, full_ref: str) -> str | None:
    try:
        _git(settings, repo, "show-ref", "--verify", "--quiet", full_ref)
        sha = _git(settings, repo, "rev-parse", "--verify", "--quiet", f"{full_ref}^{{commit}}")
    except GitError:
        return None  # no such ref, or a tag of something other than a commit
    return sha if re.fullmatch(r"[0-9a-f]{40,64}", sha) else None


def resolve_ref(settings: Settings, repo: Repository, ref: str) -> ResolvedRef | None:
    """A branch or tag (short or ``refs/heads/…``/``refs/tags/…``) → its commit; None if none.

    A branch wins over a tag of the same name; commit SHAs are not refs (GitHub refuses them).
    """
    if not _valid_ref_name(ref):
        return None
    qualified = ref.startswith(("refs/heads/", "refs/tags/"))
    candidates = [ref] if qualified else [f"refs/heads/{ref}", f"refs/tags/{ref}"]
    for full in candidates:
        sha = _peel(settings, repo, full)
        if sha is not None:
            return ResolvedRef(full, full.removeprefix("refs/heads/").removeprefix("refs/tags/"), sha)
    return None


# -- workflows -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KnownWorkflow:
    row: Workflow
    # Whether the file is on the default branch now. GitHub reports a workflow whose file was
    # removed with the state "deleted"; the row (and its id) stays.
    present: bool

    @property
    def state(self) -> str:
        return self.row.state if self.present else "deleted"


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    # Two requests may see a new file at once; the unique (repo_id, path) index decides and the
    # loser keeps going with the winner's row instead of failing its whole request.
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(Workflow).values(rows).on_conflict_do_nothing(index_elements=["repo_id", "path"]))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(Workflow).values(rows).on_conflict_do_nothing(index_elements=["repo_id", "path"]))


def sync_workflows(session: Session, settings: Settings, repo: Repository, *, now: datetime) -> list[Workflow]:
    """The workflows on the default branch now, by path; new files are registered, names kept
    current. Workflows whose file is gone keep their row but are not returned."""
    commit = _peel(settings, repo, f"refs/heads/{repo.default_branch}")
    files = workflow_files(settings, repo, commit) if commit else []
    if not files:
        return []
    known = {w.path: w for w in session.scalars(select(Workflow).where(Workflow.repo_id == repo.id))}
    new = [f for f in files if f.path not in known]
    if new:
        _insert_ignoring_duplicates(
            session,
            [
                {
                    "repo_id": repo.id,
                    "path": f.path,
                    "name": f.display_name,
                    "state": "active",
                    "created_at": now,
                    "updated_at": now,
                }
                for f in new
            ],
        )
        added = session.scalars(
            select(Workflow).where(Workflow.repo_id == repo.id, Workflow.path.in_([f.path for f in new]))
        )
        known.update({w.path: w for w in added})
    current = []
    for f in files:
        row = known[f.path]
        if row.name != f.display_name:
            row.name = f.display_name
            row.updated_at = now
        current.append(row)
    session.flush()
    return current


def _parse_id(text: str) -> int | None:
    if not re.fullmatch(r"[0-9]{1,10}", text):
        return None
    value = int(text)
    return value if 0 < value <= INT32_MAX else None


def find_workflow(
    session: Session, settings: Settings, repo: Repository, ident: str, *, now: datetime
) -> KnownWorkflow:
    """By id (any workflow the repository ever had) or by file name (``ci.yml``, on the default
    branch now), as GitHub's ``{workflow_id}`` path parameter takes either."""
    present = sync_workflows(session, settings, repo, now=now)
    workflow_id = _parse_id(ident)
    if workflow_id is not None:
        row = session.get(Workflow, workflow_id)
        if row is not None and row.repo_id == repo.id:
            return KnownWorkflow(row, any(w.id == row.id for w in present))
    for row in present:
        if row.path.rsplit("/", 1)[-1] == ident:
            return KnownWorkflow(row, True)
    raise NotFound(f"No workflow {ident!r} in {repo.full_name}")


# -- dispatch --------------------------------------------------------------------------------


def _check_inputs(inputs: Mapping[str, InputValue]) -> dict[str, InputValue]:
    if len(inputs) > MAX_INPUTS:
        raise Invalid(f"inputs can have at most {MAX_INPUTS} properties", field="inputs")
    if len(json.dumps(inputs)) > MAX_INPUTS_CHARS:
        raise Invalid(f"inputs are too large (maximum is {MAX_INPUTS_CHARS} characters)", field="inputs")
    return dict(inputs)


def dispatch_workflow(
    session: Session,
    settings: Settings,
    *,
    repo: Repository,
    workflow: Workflow,
    ref: str,
    inputs: Mapping[str, InputValue],
    actor: User,
    token: Token | None,
    now: datetime,
    ip: str | None = None,
) -> WorkflowRun:
    """Record a ``workflow_dispatch`` run of ``workflow`` at ``ref`` and its audit event.

    Like GitHub, the workflow file is read at ``ref`` (that version is what would run), so the
    trigger must be declared there.
    """
    checked = _check_inputs(inputs)
    if workflow.state == "disabled_manually":
        raise DispatchRefused("Cannot trigger a 'workflow_dispatch' on a disabled workflow", field="workflow")
    resolved = resolve_ref(settings, repo, ref)
    if resolved is None:
        raise DispatchRefused(f"No ref found for: {ref}", field="ref")
    at_ref = next((e for e in _entries(settings, repo, resolved.sha) if e.path == workflow.path), None)
    if at_ref is None or not _read(settings, repo, at_ref).dispatchable:
        raise DispatchRefused("Workflow does not have 'workflow_dispatch' trigger", field="ref")

    # Serialize numbering per workflow: the row lock makes a concurrent dispatch wait, then read
    # the number this one took (PostgreSQL; SQLite serializes writers anyway).
    session.execute(select(Workflow.id).where(Workflow.id == workflow.id).with_for_update())
    last = session.scalar(select(func.max(WorkflowRun.run_number)).where(WorkflowRun.workflow_id == workflow.id))
    run = WorkflowRun(
        repo_id=repo.id,
        workflow_id=workflow.id,
        run_number=(last or 0) + 1,
        event="workflow_dispatch",
        status="queued",
        conclusion=None,
        head_branch=resolved.name,
        head_sha=resolved.sha,
        inputs=checked,
        actor_id=actor.id,
        actor_login=actor.login,
        token_id=token.id if token is not None else None,
        created_at=now,
        updated_at=now,
    )
    session.add(run)
    session.flush()
    owner = repo.owner
    record(
        session,
        "workflow.dispatched",
        now=now,
        actor=actor,
        token=token,
        ip=ip,
        org=owner if isinstance(owner, Organization) else None,
        repository=repo.full_name,
        workflow_id=workflow.id,
        workflow=workflow.path,
        run_id=run.id,
        run_number=run.run_number,
        ref=resolved.ref,
        head_sha=resolved.sha,
        # Input names only: values may be sensitive, and the run row keeps them anyway.
        inputs=sorted(checked),
    )
    return run


# -- runs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunFilters:
    """GitHub's query parameters for listing runs (``created``, ``check_suite_id`` and
    ``exclude_pull_requests`` are accepted and ignored: nothing here has them)."""

    actor: str | None = None
    branch: str | None = None
    event: str | None = None
    status: str | None = None
    head_sha: str | None = None


def runs_query(
    repo: Repository, *, workflow_id: int | None = None, filters: RunFilters | None = None
) -> Select[WorkflowRun]:
    """Runs, newest first (GitHub's order)."""
    filters = filters or RunFilters()
    query = select(WorkflowRun).where(WorkflowRun.repo_id == repo.id)
    if workflow_id is not None:
        query = query.where(WorkflowRun.workflow_id == workflow_id)
    given = [v for v in (filters.actor, filters.branch, filters.event, filters.status, filters.head_sha) if v]
    if any("\x00" in v for v in given):
        return query.where(false())  # nothing matches, and PostgreSQL refuses NUL in text
    if filters.actor:
        query = query.where(func.lower(WorkflowRun.actor_login) == filters.actor.lower())
    if filters.branch:
        query = query.where(WorkflowRun.head_branch == filters.branch)
    if filters.event:
        query = query.where(WorkflowRun.event == filters.event)
    if filters.status:
        # GitHub's ``status`` filter takes a status or a conclusion ("success", "failure", …).
        column = WorkflowRun.status if filters.status in RUN_STATUSES else WorkflowRun.conclusion
        query = query.where(column == filters.status)
    if filters.head_sha:
        query = query.where(WorkflowRun.head_sha == filters.head_sha)
    return query.order_by(WorkflowRun.id.desc())


def count_runs(session: Session, query: Select[WorkflowRun]) -> int:
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def get_run(session: Session, repo: Repository, run_id: str) -> WorkflowRun:
    number = _parse_id(run_id)
    run = session.get(WorkflowRun, number) if number is not None else None
    if run is None or run.repo_id != repo.id:
        raise NotFound(f"No workflow run {run_id!r} in {repo.full_name}")
    return run


def workflows_of(session: Session, runs: Iterable[WorkflowRun]) -> dict[int, Workflow]:
    ids = {run.workflow_id for run in runs}
    if not ids:
        return {}
    return {w.id: w for w in session.scalars(select(Workflow).where(Workflow.id.in_(ids)))}


def actors_of(session: Session, runs: Iterable[WorkflowRun]) -> dict[int, User]:
    ids = {run.actor_id for run in runs if run.actor_id is not None}
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


@dataclass(frozen=True, slots=True)
class CommitSummary:
    sha: str
    tree: str
    message: str
    author: tuple[str, str]
    committer: tuple[str, str]
    timestamp: datetime


def commit_summaries(settings: Settings, repo: Repository, shas: Iterable[str]) -> dict[str, CommitSummary]:
    """``head_commit`` data for runs, in one git call. Empty when any commit is gone (history
    rewritten and collected) or unreadable: a run is still worth showing without it."""
    wanted = sorted({sha for sha in shas if re.fullmatch(r"[0-9a-f]{40,64}", sha)})
    if not wanted:
        return {}
    fmt = "%H%x1f%T%x1f%an%x1f%ae%x1f%cn%x1f%ce%x1f%ct%x1f%B%x1e"
    try:
        out = _git(settings, repo, "log", "--no-walk=unsorted", f"--format={fmt}", *wanted)
    except (GitError, UnicodeDecodeError):
        return {}
    found = {}
    for chunk in out.split("\x1e"):
        fields = chunk.strip("\n").split("\x1f")
        if len(fields) != 8 or not fields[6].isdigit():
            continue
        sha, tree, an, ae, cn, ce, ct, message = fields
        found[sha] = CommitSummary(
            sha, tree, message.rstrip("\n"), (an, ae), (cn, ce), datetime.fromtimestamp(int(ct), UTC)
        )
    return found
