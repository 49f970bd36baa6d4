"""CUPS through its command-line tools (``lp``, ``lpstat``, ``lpoptions``): no compiled bindings to build.

Every call blocks (the tools talk to the CUPS server), so the kiosk runs them on worker threads only. The tools
are asked for their C-locale output, which is what the parsers below read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

TOOL_TIMEOUT_S = 20.0  # an unreachable server must not hold a worker thread for long
JOBS_LISTED = 10  # the newest failed jobs the operator sees

PrinterStateName = Literal["idle", "printing", "stopped"]

# job-state-reasons (RFC 8011, PWG 5100.x) that mean a job did not print, or cannot print as things stand
JOB_TROUBLE = frozenset(
    {
        "aborted-by-system",
        "compression-error",
        "document-access-error",
        "document-format-error",
        "document-unprintable-error",
        "job-completed-with-errors",
        "job-canceled-at-device",
        "printer-stopped",
        "resources-are-not-ready",
    }
)
# printer-state-reasons worth their own word for the operator, by prefix (a reason may end -error/-warning/-report),
# as the condition the panel names (i18n ``printer.<condition>``, beside the states idle, printing and stopped)
CONDITIONS = (
    ("media-empty", "out_of_paper"),
    ("media-needed", "out_of_paper"),
    ("media-jam", "paper_jam"),
    ("marker-supply-empty", "out_of_ink"),
    ("toner-empty", "out_of_ink"),
    ("cover-open", "cover_open"),
    ("door-open", "cover_open"),
    ("offline", "offline"),
    ("paused", "stopped"),
)


class PrintError(Exception):
    """A CUPS tool failed; the message is what it said."""


@dataclass(frozen=True)
class PrinterState:
    name: str
    state: PrinterStateName
    reasons: tuple[str, ...] = ()  # printer-state-reasons, as lpstat's "Alerts"
    message: str = ""  # printer-state-message, e.g. the driver's "Out of paper"

    @property
    def condition(self) -> str:
        """The condition to name to the operator (``CONDITIONS``: out of paper, paper jam...) before its state."""
        for reason in self.reasons:
            if reason.endswith("-report"):  # informational only
                continue
            for prefix, condition in CONDITIONS:
                if reason.startswith(prefix):
                    return condition
        return self.state


@dataclass(frozen=True)
class PrintJob:
    id: str  # e.g. "PDF-12"
    owner: str
    when: str  # as lpstat writes it
    status: str = ""  # job-printer-state-message, e.g. "Filter failed"
    reasons: tuple[str, ...] = ()
    finished: bool = False  # completed, cancelled or aborted: CUPS will not try it again

    @property
    def failed(self) -> bool:
        """Stuck or ended in trouble; a finished job that kept a message ended with it ("Filter failed")."""
        return bool(JOB_TROUBLE.intersection(self.reasons)) or (self.finished and bool(self.status))


def available() -> str:
    """Empty when the CUPS tools are installed, else what is missing (for the operator)."""
    missing = [tool for tool in ("lp", "lpstat") if shutil.which(tool) is None]
    return f"not installed: {', '.join(missing)} (Debian: cups-client)" if missing else ""


class Cups:
    """The CUPS server at ``server`` (host:port; empty: the one this computer's CUPS clients use)."""

    def __init__(self, server: str = "", timeout_s: float = TOOL_TIMEOUT_S) -> None:
        self.server, self.timeout_s = server.strip(), timeout_s

    def _run(self, tool: str, *args: str) -> str:
        command = [tool, *(("-h", self.server) if self.server else ()), *args]
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}  # the parsers read the untranslated output
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=self.timeout_s, env=env)
        except FileNotFoundError as exc:
            raise PrintError(f"{tool} is not installed (Debian: cups-client)") from exc
        except subprocess.TimeoutExpired as exc:
            raise PrintError(f"{tool}: no answer from CUPS within {self.timeout_s:g} s") from exc
        if done.returncode != 0:
            said = (done.stderr or done.stdout).strip().splitlines()
            raise PrintError(said[-1] if said else f"{tool} failed ({done.returncode})")
        return done.stdout

    def printers(self) -> list[PrinterState]:
        """Every queue CUPS knows, with its state. None at all is an empty list, not an error."""
        try:
            return parse_printers(self._run("lpstat", "-l", "-p"))
        except PrintError as exc:
            if "no destinations" in str(exc).lower():
                return []
            raise

    def jobs(self, printer: str) -> list[PrintJob]:
        """The printer's jobs, waiting and finished (CUPS keeps a history), newest first."""
        waiting = parse_jobs(self._run("lpstat", "-l", "-W", "not-completed", "-o", printer), finished=False)
        finished = parse_jobs(self._run("lpstat", "-l", "-W", "completed", "-o", printer), finished=True)
        return sorted(waiting + finished, key=job_number, reverse=True)

    def failed_jobs(self, printer: str) -> list[PrintJob]:
        return [job for job in self.jobs(printer) if job.failed][:JOBS_LISTED]

    def page_sizes(self, printer: str) -> list[str]:
        """The printer's own page size names (its PPD's), for the operator to compare with the paper chosen."""
        for line in self._run("lpoptions", "-p", printer, "-l").splitlines():
            if line.startswith("PageSize/"):
                return [choice.lstrip("*") for choice in line.split(":", 1)[1].split()]
        return []

    def submit(self, printer: str, document: Path, media: str, copies: int = 1, title: str = "Portrait") -> str:
        """Hand ``document`` to CUPS; returns the job id once the server has it (a copy: the file may go)."""
        said = self._run(
            "lp", "-d", printer, "-n", str(copies), "-o", f"media={media}", "-t", title, "--", str(document)
        )
        match = re.search(r"request id is (\S+)", said)
        if not match:
            raise PrintError(f"lp gave no job id: {said.strip()!r}")
        return match.group(1)


_PRINTER_LINE = re.compile(r"^printer (\S+) (?:is (idle)|now (printing) |(disabled) since )")
_LONG_KEYS = ("Form mounted:", "Content types:", "Printer types:", "Description:", "Alerts:")
_JOB_LINE = re.compile(r"^(\S+-\d+)\s+(\S+)\s+\d+\s+(.+?)\s*$")


def parse_printers(text: str) -> list[PrinterState]:
    """``lpstat -l -p``: a line per printer, then its message (if any) and its long details, tab-indented."""
    printers: list[dict] = []
    for line in text.splitlines():
        match = _PRINTER_LINE.match(line)
        if match:
            name, idle, printing, _disabled = match.groups()
            state = "idle" if idle else "printing" if printing else "stopped"
            printers.append({"name": name, "state": state, "reasons": (), "message": "", "details": 0})
            continue
        if not printers or not line.startswith("\t"):
            continue
        current, item = printers[-1], line.strip()
        if current["details"] == 0 and not item.startswith(_LONG_KEYS):
            current["message"] = item  # the state message comes right after the printer's line
        current["details"] += 1
        if item.startswith("Alerts:"):
            current["reasons"] = reasons_of(item)
    return [PrinterState(p["name"], p["state"], p["reasons"], p["message"]) for p in printers]


def parse_jobs(text: str, finished: bool) -> list[PrintJob]:
    """``lpstat -l -o``: a line per job (id, owner, size, date), then its Status and Alerts, tab-indented."""
    jobs: list[dict] = []
    for line in text.splitlines():
        match = _JOB_LINE.match(line)
        if match and not line.startswith("\t"):
            jobs.append({"id": match.group(1), "owner": match.group(2), "when": match.group(3)})
            continue
        item = line.strip()
        if jobs and item.startswith("Status:"):
            jobs[-1]["status"] = item.removeprefix("Status:").strip()
        elif jobs and item.startswith("Alerts:"):
            jobs[-1]["reasons"] = reasons_of(item)
    return [PrintJob(j["id"], j["owner"], j["when"], j.get("status", ""), j.get("reasons", ()), finished) for j in jobs]


def reasons_of(alerts: str) -> tuple[str, ...]:
    """lpstat's "Alerts: a b" (or "a, b") as reasons; "none" is none."""
    words = re.split(r"[,\s]+", alerts.removeprefix("Alerts:").strip())
    return tuple(word for word in words if word and word != "none")


def job_number(job: PrintJob) -> int:
    return int(job.id.rsplit("-", 1)[1])
