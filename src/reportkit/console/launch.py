"""``reportkit console``: the officer console served by JupyterLab or Voilà.

:func:`launch_console` starts JupyterLab (or, with ``app=True``, Voilà: a no-code
web app) on ``notebooks/officer_console.ipynb``, bound to loopback behind a
token, and passes the deployment's database, params and outputs to the
notebook's kernel through ``REPORTKIT_DB``/``REPORTKIT_PARAMS``/
``REPORTKIT_OUTPUTS``. :func:`reportkit.config.project_settings` is how a notebook finds them.
Voilà keeps one preheated kernel that has already run the console, so the app opens
at once (``benchmarks/bench_console.py --app`` measures it).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reportkit.config import Settings

__all__ = ["console_command", "launch_console"]


def _console_notebook() -> Path:
    from reportkit.layout import find_notebook

    return find_notebook("officer_console.ipynb")


def _absolute_db(url: str) -> str:
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rest = url.removeprefix("sqlite:///")
        if rest and not rest.startswith(":memory:"):
            return f"sqlite:///{Path(rest).resolve()}"
    return url


def console_command(
    settings: Settings, app: bool, port: int, ip: str, token: str
) -> tuple[list[str], dict[str, str], Path, str]:
    """The server's argv, environment, working folder and the URL to open (with the token)."""
    notebook = _console_notebook()
    root = notebook.parent.parent
    rel = notebook.relative_to(root).as_posix()
    env = {
        **os.environ,
        "REPORTKIT_DB": _absolute_db(settings.db),
        "REPORTKIT_PARAMS": str(Path(settings.params).resolve()),
        "REPORTKIT_OUTPUTS": str(Path(settings.outputs).resolve()),
        "REPORTKIT_NOTEBOOKS": str(notebook.parent),
    }
    host = f"[{ip}]" if ":" in ip else ip  # an IPv6 address in a URL
    if app:
        argv = [sys.executable, "-m", "voila", rel, f"--port={port}", f"--Voila.ip={ip}"]
        argv += ["--no-browser", f"--Voila.token={token}", "--Voila.port_retries=0"]
        # a kernel that has already run the console waits for the first visitor (and the
        # next one is started when it is taken): the page opens without running anything
        argv += [
            "--VoilaConfiguration.preheat_kernel=True",
            "--VoilaConfiguration.default_pool_size=1",
            # the next kernel runs the console after the first page is served, not during
            "--VoilaKernelManager.fill_delay=30",
        ]
        url = f"http://{host}:{port}/?token={token}"
    else:
        argv = [sys.executable, "-m", "jupyterlab", f"--ServerApp.ip={ip}"]
        argv += [f"--ServerApp.port={port}", "--ServerApp.port_retries=0"]
        argv += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
        argv += ["--ServerApp.open_browser=False", f"--LabApp.default_url=/lab/tree/{rel}"]
        argv += ["--LabApp.news_url=None", "--LabApp.extension_manager=readonly"]
        argv += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers run as root
            argv.append("--ServerApp.allow_root=True")
        url = f"http://{host}:{port}/lab/tree/{rel}?token={token}"
    return argv, env, root, url


def launch_console(
    settings: Settings, app: bool, port: int, ip: str, token: str | None, open_browser: bool
) -> int:
    """``reportkit console``: serve the officer console until Ctrl-C; the server's exit code.

    ``port`` 0 takes a free port; without ``token`` a random one is made. The URL
    printed carries the token. SIGTERM and Ctrl-C stop the server and its kernels.
    """
    if not port:
        with socket.socket() as sock:
            sock.bind((ip, 0))
            port = sock.getsockname()[1]
    argv, env, root, url = console_command(
        settings, app, port, ip, token or secrets.token_urlsafe(24)
    )
    print(f"reportkit console: {url}", flush=True)
    proc = subprocess.Popen(argv, env=env, cwd=root)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.terminate()) if main else None
    if open_browser:
        threading.Timer(3.0, webbrowser.open, [url]).start()
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
