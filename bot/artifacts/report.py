"""The final release report: one self-contained HTML file and a Markdown summary for the thread.

``collect_report`` reads the database and the content store; ``render_report`` and
``render_summary`` are pure functions of the collected data, so they are tested without a
database and the lead posts the summary wherever the lifecycle finishes a release.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from bot.artifacts.evidence import load_package
from storage.audit import verify_chain
from storage.evidence import ContentStore, EvidenceStore, IntegrityProblem
from storage.repo import Store

METRIC_GATES = ("lcp_p75", "inp_p75", "error_budget", "cache_hit", "regional_error_rate")
# Inline images above this stay out of the HTML (still listed with their hash).
MAX_EMBED_BYTES = 3_000_000


@dataclass(frozen=True)
class ArtifactView:
    filename: str
    title: str
    sha256: str
    size: int
    data_uri: str | None


@dataclass(frozen=True)
class RunView:
    attempt: int
    phase: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None
    gates: list[dict[str, Any]]
    artifacts: list[ArtifactView]
    decision: dict[str, Any] | None  # phase, decision, by, at, comment, evidence

    @property
    def duration(self) -> timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None

    @property
    def label(self) -> str:
        verb = {"rolled_back": "rolled back", "approved": "approved", "rejected": "rejected"}.get(
            self.outcome, self.outcome
        )
        return f"{self.phase.capitalize()} (attempt {self.attempt}, {verb})"


@dataclass(frozen=True)
class ReportData:
    name: str
    title: str
    state: str
    requested_by: str
    attempts: int
    started_at: datetime
    finished_at: datetime
    runs: list[RunView]
    audit: str  # one line: intact / tampered at entry N
    generated_at: datetime
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    # The bytes the approvals covered: digest over release.yml and every referenced file, and the files.
    bundle_digest: str | None = None
    bundle_files: list[dict[str, Any]] = field(default_factory=list)


def fmt_duration(d: timedelta | None) -> str:
    if d is None:
        return "—"
    s = int(d.total_seconds())
    if s < 60:
        return f"{d.total_seconds():.1f}s" if s < 10 else f"{s}s"
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s"


def fmt_value(v: Any, unit: str | None) -> str:
    if v is None:
        return "—"
    if isinstance(v, float | int) and not isinstance(v, bool):
        if unit == "ratio":
            return f"{v * 100:.2f}%"
        if unit == "ms":
            return f"{v:+,.0f} ms" if v < 0 or v > 0 else "0 ms"
        if unit == "bytes":
            return f"{v:,.0f} B"
        return f"{v:,.4g}"
    return str(v)


def _baseline(g: dict[str, Any]) -> Any:
    for k, v in (g.get("values") or {}).items():
        if "baseline" in k and not k.startswith("n_") and isinstance(v, int | float):
            return v
    return None


def comparison(data: ReportData) -> tuple[list[str], list[list[str]]]:
    """The case-study table: one row per metric gate, a pre-release (baseline) column, one per run."""
    runs = [r for r in data.runs if any(g["gate"] in METRIC_GATES for g in r.gates)]
    header = ["Metric", "Pre-release (baseline)", *[r.label for r in runs]]
    rows: list[list[str]] = []
    for gate in METRIC_GATES:
        cells: list[str] = []
        baseline: Any = None
        present = False
        for r in runs:
            g = next((x for x in r.gates if x["gate"] == gate and not x.get("image_id")), None)
            if g is None:
                cells.append("—")
                continue
            present = True
            baseline = baseline if baseline is not None else _baseline(g)
            cells.append(f"{fmt_value(g.get('measured'), g.get('unit'))} ({g['status']})")
        if present:
            unit = next((x.get("unit") for r in runs for x in r.gates if x["gate"] == gate), None)
            shown = fmt_value(baseline, unit).lstrip("+") if baseline is not None else "—"
            rows.append([gate, shown, *cells])
    return header, rows


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Release report: {{ d.name }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#222;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f4f4f4}.pass{color:#1b7f3b}.fail{color:#b3261e}.warn,.inconclusive{color:#a15c00}
img{max-width:100%;border:1px solid #ddd}code{font-size:12px}
</style></head><body>
<h1>{{ d.name }} — {{ d.title }}</h1>
<p>State <b>{{ d.state }}</b> · requested by {{ d.requested_by }} · {{ d.attempts }} attempt(s) ·
started {{ d.started_at | ts }} · finished {{ d.finished_at | ts }} · total {{ total }}</p>
<p>Audit log: <b>{{ d.audit }}</b></p>
{% if d.bundle_digest %}<p>Bundle digest <code>{{ d.bundle_digest }}</code> over {{ d.bundle_files | length }}
file(s): every approval below covers exactly these bytes.</p>
<details><summary>Files</summary><table><tr><th>Path</th><th>Bytes</th><th>SHA-256</th></tr>
{% for f in d.bundle_files %}<tr><td>{{ f.path }}</td><td>{{ f.size }}</td><td><code>{{ f.sha256 }}</code></td></tr>
{% endfor %}</table></details>{% endif %}
<h2>Phases</h2>
<table><tr><th>Phase</th><th>Started</th><th>Duration</th><th>Outcome</th><th>Decided by</th><th>Comment</th>
<th>Evidence</th></tr>
{% for r in d.runs %}<tr><td>{{ r.label }}</td><td>{{ r.started_at | ts }}</td><td>{{ dur(r.duration) }}</td>
<td>{{ r.outcome }}</td><td>{{ r.decision.by if r.decision else "—" }}</td>
<td>{{ (r.decision.comment or "") if r.decision else "" }}</td>
<td>{% if r.decision and r.decision.evidence %}<code>{{ r.decision.evidence[:16] }}…</code>{% endif %}</td></tr>
{% endfor %}</table>
{% if rows %}<h2>Metric comparison</h2>
<table><tr>{% for h in header %}<th>{{ h }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
{% if d.rollbacks %}<h2>Rollbacks</h2><ul>{% for rb in d.rollbacks %}
<li>{{ rb.at }} — {{ rb.phase }} by {{ rb.actor }}{% if rb.reason %}: {{ rb.reason }}{% endif %}</li>{% endfor %}
</ul>{% endif %}
{% for r in d.runs %}<h2>{{ r.label }}: gate verdicts</h2>
<table><tr><th>Gate</th><th>Image</th><th>Status</th><th>Measured</th><th>Threshold</th><th>Summary</th></tr>
{% for g in r.gates %}<tr><td>{{ g.gate }}</td><td>{{ g.image_id or "" }}</td>
<td class="{{ g.status }}">{{ g.status }}</td><td>{{ val(g.measured, g.unit) }}</td>
<td>{{ val(g.threshold, g.unit) }}</td><td>{{ g.summary }}</td></tr>{% endfor %}</table>
{% for a in r.artifacts %}<figure><figcaption>{{ a.title }} — <code>sha256 {{ a.sha256 }}</code></figcaption>
{% if a.data_uri %}<img alt="{{ a.title }}" src="{{ a.data_uri }}">{% else %}<p>(not embedded: {{ a.size }} bytes)</p>
{% endif %}</figure>{% endfor %}{% endfor %}
<p><small>Generated {{ d.generated_at | ts }} by releasegate.</small></p>
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_env.filters["ts"] = lambda t: t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if t else "—"


def render_report(data: ReportData) -> str:
    """Self-contained HTML: styles inline, charts as data: URIs, nothing fetched when opened."""
    header, rows = comparison(data)
    return _env.from_string(_HTML).render(
        d=data,
        header=header,
        rows=rows,
        dur=fmt_duration,
        val=fmt_value,
        total=fmt_duration(data.finished_at - data.started_at),
    )


def _md(text: Any) -> str:
    """Pipes break Markdown tables; angle brackets and ampersands would become Slack mentions or links."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def render_summary(data: ReportData) -> str:
    """Markdown for the thread: phases, durations, who approved, verdicts, metric table, rollbacks."""
    total = fmt_duration(data.finished_at - data.started_at)
    lines = [
        f"## Release report: {_md(data.name)} — {_md(data.state)}",
        f"{_md(data.title)} · {data.attempts} attempt(s) · total {total} · audit log {_md(data.audit)}",
        *([f"Bundle digest `{data.bundle_digest}` ({len(data.bundle_files)} files)"] if data.bundle_digest else []),
        "",
        "| Phase | Duration | Outcome | Decided by | Gates |",
        "|---|---|---|---|---|",
    ]
    for r in data.runs:
        counts: dict[str, int] = {}
        for g in r.gates:
            counts[g["status"]] = counts.get(g["status"], 0) + 1
        verdicts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "—"
        who = "—"
        if r.decision:
            comment = r.decision.get("comment")
            who = _md(r.decision["by"]) + (f" (“{_md(comment)}”)" if comment else "")
        lines.append(f"| {_md(r.label)} | {fmt_duration(r.duration)} | {_md(r.outcome)} | {who} | {verdicts} |")
    header, rows = comparison(data)
    if rows:
        lines += ["", "| " + " | ".join(_md(h) for h in header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    if data.rollbacks:
        lines += ["", "**Rollbacks**"]
        lines += [
            f"- {_md(rb['at'])} {_md(rb['phase'])} by {_md(rb['actor'])}"
            + (f": {_md(rb['reason'])}" if rb.get("reason") else "")
            for rb in data.rollbacks
        ]
    return "\n".join(lines) + "\n"


def review_template(data: ReportData, due: datetime) -> str:
    """The 24-hour post-release review message (the lead schedules it a day after completion)."""
    return (
        f"## 24-hour review: {_md(data.name)}\nDue {due.astimezone(UTC):%Y-%m-%d %H:%M UTC}. "
        "Reply in this thread with:\n"
        "1. **Metrics since Global** — LCP/INP p75, error rate, cache hit ratio vs. the release report.\n"
        "2. **Incidents or complaints** linked to these images (links).\n"
        "3. **What the gates missed or flagged wrongly**, and the policy change that would fix it.\n"
        "4. **Keep / follow-up / revert** — and who owns the follow-up.\n"
    )


async def collect_report(
    store: Store, artifacts_dir: Path, name: str, now: datetime | None = None, *, embed: bool = True
) -> ReportData:
    ev = EvidenceStore(store.engine)
    hist = await ev.history(name)
    if not hist.attempts:
        raise LookupError(f"no release named {name}")
    cas = ContentStore(artifacts_dir)
    entries = await store.audit_entries()
    problem = verify_chain(entries)
    audit = f"intact ({len(entries)} entries)" if problem is None else f"TAMPERED at entry {problem.seq}"
    evidence_by_request = {
        e["detail"].get("request"): e["detail"].get("evidence")
        for e in entries
        if e["release_name"] == name and e["action"].startswith("decision.") and e["outcome"] in ("approve", "reject")
    }
    rollbacks = [
        {
            "at": e["at"],
            "phase": e["phase"],
            "actor": e["actor"],
            "reason": (e["detail"] or {}).get("reason") or ", ".join((e["detail"] or {}).get("failed_gates", [])),
        }
        for e in entries
        if e["release_name"] == name
        and (
            e["action"] == "release.rollback"
            or (e["action"] == "gates.evaluated" and e["outcome"] == "fail" and e["phase"] == "canary")
        )
    ]
    runs: list[RunView] = []
    for release in hist.attempts:
        rid = release.id or 0
        by_run = {}
        for d in hist.decisions.get(rid, []):
            req = await store.approval_request(d.approval_request_id)
            if req is not None:
                by_run[req.phase_run_id] = {
                    "phase": d.phase,
                    "decision": d.decision,
                    "by": d.by,
                    "at": d.at,
                    "comment": d.comment,
                    "evidence": evidence_by_request.get(d.approval_request_id),
                }
        for run in hist.runs.get(rid, []):
            gates = [g.to_dict() for g in await store.gate_results(run.id or 0)]
            arts = []
            for a in await ev.artifacts(run.id or 0):
                uri = None
                if embed and a.size <= MAX_EMBED_BYTES and cas.has(a.sha256):
                    try:
                        uri = "data:image/png;base64," + base64.b64encode(cas.get(a.sha256)).decode()
                    except IntegrityProblem:
                        uri = None
                arts.append(ArtifactView(a.filename, a.title, a.sha256, a.size, uri))
            runs.append(
                RunView(
                    release.attempt,
                    run.phase,
                    run.outcome,
                    run.started_at,
                    run.finished_at,
                    gates,
                    arts,
                    by_run.get(run.id or 0),
                )
            )
    first, last = hist.attempts[0], hist.attempts[-1]
    return ReportData(
        name=name,
        title=last.title,
        state=last.state,
        requested_by=first.requested_by,
        attempts=len(hist.attempts),
        started_at=first.created_at,
        finished_at=last.updated_at,
        runs=runs,
        audit=audit,
        generated_at=now or datetime.now(UTC),
        rollbacks=rollbacks,
        bundle_digest=last.bundle_digest,
        bundle_files=list(last.bundle_manifest),
    )


async def write_report(store: Store, artifacts_dir: Path, name: str, now: datetime | None = None) -> tuple[str, str]:
    """Render both forms and keep the HTML content-addressed; returns (html sha256, markdown)."""
    data = await collect_report(store, artifacts_dir, name, now)
    html = render_report(data)
    digest = ContentStore(artifacts_dir).put(html.encode("utf-8"))
    return digest, render_summary(data)


__all__ = [
    "ReportData",
    "collect_report",
    "load_package",
    "render_report",
    "render_summary",
    "review_template",
    "write_report",
]
