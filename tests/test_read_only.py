"""A read-only workspace, also when the tests run as root (as in CI containers).

chmod 0o555 on a folder stops a normal user from creating, renaming or deleting entries in it,
but not root, so a test that relies on it alone is skipped exactly where CI runs it. Here the
folders are made read-only with chmod as well, and when that does not stop this user, the
kernel's permission check for a user who is not root is applied at the OS calls instead: every
call that would add, rename or remove an entry of a folder without write permission fails with
EACCES, as it would for that user. seqcast's code runs unchanged either way.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqcast import api
from seqcast.cli import app

runner = CliRunner()
REFETCH = ["fetch", "eurpln", "--source", "sample", "--from", "2024-06-01"]
RETRAIN = ["train", "--epochs", "1", "--hidden", "8", "--lookback", "10", "--patience", "0", "--threads", "1"]


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))}


class NonRootPermissions:
    """The kernel's write-permission check on folders, for a user who is not root.

    Creating, renaming or removing an entry needs write permission on its folder; an existing
    file opened for writing needs write permission on the file.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.denied: list[str] = []
        real = {name: getattr(os, name) for name in ("open", "mkdir", "rename", "replace", "unlink", "rmdir")}
        self.real = real
        real_open = builtins.open

        def os_open(path, flags, *args, **kwargs):
            writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND)
            if writes:
                self.check_write(path, create=bool(flags & os.O_CREAT))
            return real["open"](path, flags, *args, **kwargs)

        def open_(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, bytes, os.PathLike)) and any(c in mode for c in "wax+"):
                self.check_write(file, create=True)
            return real_open(file, mode, *args, **kwargs)

        def entry_call(name):
            def call(path, *args, **kwargs):
                if not (name == "mkdir" and os.path.lexists(path)):  # an existing entry: EEXIST first
                    self.check_folder(path)
                return real[name](path, *args, **kwargs)
            return call

        def move_call(name):
            def call(src, dst, *args, **kwargs):
                self.check_folder(src)
                self.check_folder(dst)
                return real[name](src, dst, *args, **kwargs)
            return call

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(builtins, "open", open_)
        monkeypatch.setattr(io, "open", open_)
        for name in ("mkdir", "unlink", "rmdir"):
            monkeypatch.setattr(os, name, entry_call(name))
        for name in ("rename", "replace"):
            monkeypatch.setattr(os, name, move_call(name))

    def deny(self, path) -> None:
        self.denied.append(os.fsdecode(path))
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(path))

    def check_folder(self, path) -> None:
        folder = os.path.dirname(os.path.abspath(os.fsdecode(path)))
        if not os.stat(folder).st_mode & stat.S_IWUSR:
            self.deny(path)

    def check_write(self, path, *, create: bool) -> None:
        if isinstance(path, int):
            return
        if os.path.lexists(path):
            if not os.stat(path).st_mode & stat.S_IWUSR:
                self.deny(path)
        elif create:
            self.check_folder(path)


def chmod_stops_writes(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.mkdir()
    except PermissionError:
        return True
    probe.rmdir()
    return False


@pytest.fixture
def small_home(workspace) -> Path:
    api.fetch("eurpln", source="sample", start="2025-01-01", home=workspace)
    api.train(epochs=1, hidden=8, lookback=10, patience=0, threads=1, home=workspace)
    return workspace


@pytest.mark.parametrize(("args", "words"), [(REFETCH, "cannot write"), (RETRAIN, "cannot write a run folder")],
                         ids=["fetch", "train"])
def test_read_only_folders_are_one_clear_line_and_change_nothing(small_home, monkeypatch, args, words) -> None:
    folders = (small_home / "data" / "sample", small_home / "runs")
    before = snapshot(small_home)
    for folder in folders:
        folder.chmod(0o555)
    try:
        emulated = None if chmod_stops_writes(folders[1]) else NonRootPermissions(monkeypatch)
        result = runner.invoke(app, args)
        if emulated is not None:
            monkeypatch.undo()
            assert emulated.denied, "the permission check was never reached"
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert result.exit_code == 1, result.output
    message = result.output.strip()
    assert message.startswith(f"error: {words}") and "Permission denied" in message, message
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output
    assert snapshot(small_home) == before


def test_the_emulated_check_matches_the_kernels_rules(tmp_path, monkeypatch) -> None:
    """What NonRootPermissions refuses and allows, so the test above cannot pass by refusing everything."""
    locked, open_ = tmp_path / "locked", tmp_path / "open"
    locked.mkdir()
    open_.mkdir()
    (locked / "existing.txt").write_text("x")
    locked.chmod(0o555)
    try:
        check = NonRootPermissions(monkeypatch)
        with pytest.raises(PermissionError):
            (locked / "new.txt").write_text("x")
        with pytest.raises(PermissionError):
            (locked / "sub").mkdir()
        with pytest.raises(PermissionError):
            os.replace(open_ / "a", locked / "existing.txt")
        with pytest.raises(FileExistsError):  # EEXIST comes before EACCES
            (locked / "existing.txt").mkdir()
        (locked / "existing.txt").write_text("y")  # the file itself is writable
        assert (locked / "existing.txt").read_text() == "y"
        (open_ / "a").write_text("x")
        os.replace(open_ / "a", open_ / "b")
        (open_ / "sub").mkdir()
        assert len(check.denied) == 3
    finally:
        monkeypatch.undo()
        locked.chmod(0o755)
