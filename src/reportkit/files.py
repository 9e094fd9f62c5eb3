"""Writing output files: atomically, privately, the umask respected.

:func:`write_atomic` is the one way reportkit writes a file under ``outputs/``
(re-exported as :func:`reportkit.files.write_atomic`), :func:`ensure_dir` the
one way it makes a folder there. Files holding people's data are created 0600
and folders 0700; with ``$REPORTKIT_GROUP`` naming a group (its name or number)
they get that group and 0640 / 0750, so its members can read them. The umask
narrows these modes further and is never widened. This module imports nothing
heavy, so any stage may use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from reportkit.errors import ConfigError

__all__ = [
    "GROUP_ENV",
    "current_umask",
    "dir_mode",
    "ensure_dir",
    "file_mode",
    "give_to_group",
    "output_group",
    "sweep_stale_temps",
    "write_atomic",
]

GROUP_ENV = "REPORTKIT_GROUP"
PRIVATE_FILE, SHARED_FILE, PRIVATE_DIR = 0o600, 0o644, 0o700
GROUP_FILE, GROUP_DIR = 0o640, 0o750
TEMP_SUFFIX = ".tmp"
_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:  # elsewhere: set and restore it (briefly visible to other threads)
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def output_group() -> int | None:
    """The group id of ``$REPORTKIT_GROUP`` (a group name or number), ``None`` when unset.

    With a group, files holding people's data are created 0640 and folders 0750 with
    that group, so its members (the school's staff account, a web server) can read
    them; without, 0600 and 0700: the operator only.
    """
    name = os.environ.get(GROUP_ENV, "").strip()
    if not name:
        return None
    import grp

    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ConfigError(
            GROUP_ENV, value=name, reason="is not a group on this machine; name one or unset it"
        ) from None


def file_mode(private: bool = True) -> int:
    """The mode a new output file gets: 0600 (0640 with a group), 0644 when not private,
    narrowed by the umask, never widened."""
    if private:
        wanted = GROUP_FILE if output_group() is not None else PRIVATE_FILE
    else:
        wanted = SHARED_FILE
    return wanted & ~current_umask()


def dir_mode() -> int:
    """The mode of a new output folder: 0700, or 0750 with a group, narrowed by the umask."""
    wanted = GROUP_DIR if output_group() is not None else PRIVATE_DIR
    return wanted & ~current_umask()


def _set_group(path: Path | str | int, gid: int | None) -> None:
    if gid is None:
        return
    try:
        if isinstance(path, int):
            os.fchown(path, -1, gid)
        else:
            os.chown(path, -1, gid)
    except PermissionError as exc:
        raise ConfigError(
            GROUP_ENV,
            value=os.environ.get(GROUP_ENV),
            reason=f"cannot give {path} this group ({exc.strerror}): the user running "
            "reportkit must belong to it",
        ) from exc


def give_to_group(path: Path | str | int) -> None:
    """Give a file (a path or an open descriptor) the group of ``$REPORTKIT_GROUP``;
    nothing when it is unset."""
    _set_group(path, output_group())


def ensure_dir(path: Path | str, *, narrow: bool = True) -> Path:
    """Create ``path`` and its missing parents as private folders (0700, 0750 with a
    group); an existing ``path`` wider than that is narrowed when ``narrow`` (an output
    folder of reportkit's; not a folder the user chose for the store). Returns ``path``."""
    path = Path(path)
    mode, gid = dir_mode(), output_group()
    missing = []
    for parent in (path, *path.parents):
        if parent.exists():
            break
        missing.append(parent)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=mode)
        except FileExistsError:
            continue  # another thread made it
        os.chmod(folder, mode)  # mkdir's mode is narrowed by the umask only
        _set_group(folder, gid)
    if narrow and not missing and path.is_dir():
        current = path.stat().st_mode & 0o777
        if current & ~mode:
            with contextlib.suppress(PermissionError):  # not ours: leave it
                os.chmod(path, current & mode)
    return path


def write_atomic(path: Path | str, data: bytes | str, *, private: bool = True) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same folder, fsync, ``os.replace``.

    Readers see either the old file or the complete new one, never half a report:
    on any error (a full disk) the temp file is removed and the old file stays.
    Missing parent folders are created with :func:`ensure_dir`; ``str`` data is
    written as UTF-8. The file is created 0600 (``private``, the default, for
    anything holding people's data; 0640 and the group of ``$REPORTKIT_GROUP``
    when set) or 0644, narrowed by the umask and never widened.
    """
    path = Path(path)
    ensure_dir(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    mode, gid = file_mode(private), output_group() if private else None
    # the writer's pid in the name: a process killed mid-write (SIGKILL, no cleanup)
    # leaves a hidden temp file that :func:`sweep_stale_temps` can tell is stale
    prefix = f".{path.name}.{os.getpid()}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            _set_group(fh.fileno(), gid)
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _writer_pid(name: str) -> int | None:
    """The pid in a temp file's name ``.<file>.<pid>.<random>.tmp``, or None."""
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return None
    parts = name[: -len(TEMP_SUFFIX)].split(".")
    if len(parts) < 4 or not parts[-2].isdigit():
        return None
    return int(parts[-2])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def sweep_stale_temps(folder: Path | str) -> list[Path]:
    """Remove the temp files :func:`write_atomic` left under ``folder`` when its process
    was killed mid-write; return them. A temp file whose writer still runs (another
    run at the same time) is left alone. The files they would have replaced are
    whole: the old version, or none.
    """
    root = Path(folder)
    removed: list[Path] = []
    if not root.is_dir():
        return removed
    for path in root.rglob(f".*{TEMP_SUFFIX}"):
        pid = _writer_pid(path.name)
        if pid is None or pid == os.getpid() or _alive(pid):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
    return removed
