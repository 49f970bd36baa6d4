"""A private CUPS server for tests: its own cupsd on a free loopback port, every file of it in a temporary folder,
with two queues: ``PDF`` (Debian's cups-pdf, writing into the folder) and ``Empty`` (a printer whose backend
reports it is out of paper, as a real driver does, through CUPS' ``STATE:`` messages).

cupsd runs its filters as the unprivileged ``lp`` user, so the folder is made in the system's temporary
directory and readable by it (pytest's ``tmp_path`` is private to its owner). cups-pdf reads its settings from
``/etc/cups`` only (compiled in); its per-queue file ``/etc/cups/cups-pdf-<queue id>.conf`` points its output
into the folder and is removed again at the end.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.harness import free_port

CUPS_LIB = Path("/usr/lib/cups")
CUPS_PDF_CONF_DIR = Path("/etc/cups")  # where cups-pdf looks, whatever cupsd is told
PAPER_OUT_BACKEND = """#!/bin/sh
# a printer out of paper: says so the way drivers do, and fails the attempt (CUPS keeps the job waiting)
[ $# -eq 0 ] && { echo 'direct paperout "Unknown" "A printer out of paper"'; exit 0; }
echo "STATE: +media-empty-error" >&2
echo "ERROR: Out of paper" >&2
exit 1
"""


def missing() -> str:
    """Why a private CUPS with cups-pdf cannot run here ('' when it can)."""
    for tool in ("cupsd", "lp", "lpstat", "lpadmin", "lpinfo", "gs"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            return f"{tool} is not installed (Debian: cups, printer-driver-cups-pdf)"
    if not (CUPS_LIB / "backend" / "cups-pdf").exists():
        return "the cups-pdf backend is not installed (Debian: printer-driver-cups-pdf)"
    if os.geteuid() != 0:
        return "cups-pdf only runs as root (its backend refuses otherwise), and these tests are not root"
    if not os.access(CUPS_PDF_CONF_DIR, os.W_OK):
        return f"{CUPS_PDF_CONF_DIR} is not writable: cups-pdf's output cannot be sent to a temporary folder"
    return ""


class PrivateCups:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="booth-cups-"))
        self.root.chmod(0o755)  # cupsd's filters run as lp and read the spool and PPDs under it
        self.port = free_port()
        self.server = f"127.0.0.1:{self.port}"
        self.queue_id = f"booth{uuid.uuid4().hex[:8]}"
        self.pdf_conf = CUPS_PDF_CONF_DIR / f"cups-pdf-{self.queue_id}.conf"
        self.out = self.root / "out"
        self.process: subprocess.Popen | None = None

    def tool(self, *command: str, check: bool = True) -> str:
        env = {**os.environ, "CUPS_SERVER": self.server, "LC_ALL": "C"}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=30)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr.strip()}")
        return done.stdout

    def start(self) -> PrivateCups:
        etc = self._folders()
        self._server_bin()
        (etc / "cupsd.conf").write_text(
            f"Listen 127.0.0.1:{self.port}\nLogLevel warn\nBrowsing Off\nWebInterface No\nDefaultAuthType None\n"
            "<Location />\n  Order allow,deny\n  Allow all\n</Location>\n"
            "<Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
        )
        r = self.root
        (etc / "cups-files.conf").write_text(
            f"ServerRoot {etc}\nServerBin {r / 'bin'}\nRequestRoot {r / 'spool'}\nCacheDir {r / 'cache'}\n"
            f"StateDir {r / 'state'}\nTempDir {r / 'tmp'}\nAccessLog {r / 'log/access_log'}\n"
            f"ErrorLog {r / 'log/error_log'}\nPageLog {r / 'log/page_log'}\nSystemGroup root\n"
        )
        self.process = subprocess.Popen(
            ["cupsd", "-f", "-c", str(etc / "cupsd.conf"), "-s", str(etc / "cups-files.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_until_running()
        self.pdf_conf.write_text(
            f"Out {self.out}\nAnonDirName {self.out}\nSpool {r / 'pdf-spool'}\nGrp root\nLog {r / 'log'}\n"
        )
        ppd = next(line.split()[0] for line in self.tool("lpinfo", "-m").splitlines() if "CUPS-PDF_opt" in line)
        self.tool("lpadmin", "-p", "PDF", "-E", "-v", f"cups-pdf:/{self.queue_id}", "-m", ppd)
        self.tool("lpadmin", "-p", "Empty", "-E", "-v", "paperout:/", "-m", ppd)
        return self

    def _folders(self) -> Path:
        for name in ("etc", "spool", "cache", "state", "tmp", "log", "out", "pdf-spool", "bin/backend"):
            (self.root / name).mkdir(parents=True, mode=0o755)
            (self.root / name).chmod(0o755)
        (self.root / "tmp").chmod(0o1777)
        shutil.chown(self.root / "cache", "lp")  # cups-driverd (as lp) keeps its list of drivers there
        return self.root / "etc"

    def _server_bin(self) -> None:
        """CUPS' programs as installed, plus the paper-out backend."""
        for program in CUPS_LIB.iterdir():
            if program.name != "backend":
                (self.root / "bin" / program.name).symlink_to(program)
        backends = self.root / "bin" / "backend"
        for backend in (CUPS_LIB / "backend").iterdir():
            (backends / backend.name).symlink_to(backend)
        (backends / "paperout").write_text(PAPER_OUT_BACKEND)
        (backends / "paperout").chmod(0o755)

    def _wait_until_running(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while "scheduler is running" not in self.tool("lpstat", "-r", check=False):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = (self.root / "log" / "error_log").read_text() if (self.root / "log/error_log").exists() else ""
                raise RuntimeError(f"private cupsd did not start: {log[-2000:]}")
            time.sleep(0.05)

    def completed(self, job_id: str) -> bool:
        return any(line.split()[:1] == [job_id] for line in self.tool("lpstat", "-W", "completed", "-o").splitlines())

    def output(self, job_id: str, timeout_s: float = 60.0) -> Path:
        """The PDF cups-pdf wrote for ``job_id`` (its name ends in -job_<n>.pdf), once CUPS calls the job done."""
        number = job_id.rsplit("-", 1)[1]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.completed(job_id):
                found = [p for p in self.out.glob("*.pdf") if re.search(rf"job_{number}\.pdf$", p.name)]
                if found:
                    return found[0]
            time.sleep(0.1)
        log = (self.root / "log" / "error_log").read_text()
        raise AssertionError(f"no PDF for {job_id} in {list(self.out.iterdir())}; cupsd: {log[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.pdf_conf.unlink(missing_ok=True)
        shutil.rmtree(self.root, ignore_errors=True)


def media_box(pdf: Path) -> tuple[float, float]:
    """The first page's size in points, from its /MediaBox (cups-pdf's Ghostscript writes it in plain text)."""
    match = re.search(rb"/MediaBox\s*\[\s*([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s+([-\d.]+)\s*\]", pdf.read_bytes())
    assert match, f"no MediaBox in {pdf}"
    x0, y0, x1, y1 = (float(v) for v in match.groups())
    return x1 - x0, y1 - y0


def render(pdf: Path, dpi: int, out: Path) -> Path:
    """The first page as a PNG, drawn by Ghostscript (which cups-pdf needs anyway)."""
    subprocess.run(
        ["gs", "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=png16m", f"-r{dpi}", "-dFirstPage=1",
         "-dLastPage=1", f"-sOutputFile={out}", str(pdf)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return out
