"""The one atomic write: whole files or none, nothing left behind, ordinary permissions."""

import errno
import os
import stat

import pytest

from lle.atomic import atomic_path, write_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def fail(handle):
        handle.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, fail)
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["metrics.json"]


def test_a_write_replaces_the_file_with_the_default_permissions(tmp_path):
    target = tmp_path / "sub" / "model.onnx"
    with atomic_path(target) as partial:
        assert partial.parent == target.parent and partial.name.startswith(".model.onnx.")
        partial.write_bytes(b"graph")
    assert target.read_bytes() == b"graph" and sorted(os.listdir(target.parent)) == ["model.onnx"]
    umask = os.umask(0)
    os.umask(umask)
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert stat.S_IMODE(target.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o666 & ~umask
    write_text_atomic(target, "text")
    assert target.read_text() == "text"


def test_a_full_disk_is_named_as_such(tmp_path, monkeypatch):
    """torch.save on a full disk reports "enforce fail … unexpected pos"; lle names the folder instead."""
    import shutil

    import lle.atomic

    target = tmp_path / "last.ckpt"
    target.write_bytes(b"good")

    def full(handle):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=rf"no space left on {tmp_path} \(writing last.ckpt\)"):
        write_atomic(target, full)

    def torch_on_a_full_disk(handle):
        raise RuntimeError("[enforce fail at inline_container.cc:778] . unexpected pos 4672 vs 4560")

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(lle.atomic.shutil, "disk_usage", lambda folder: usage._replace(free=4096))
    with pytest.raises(OSError, match="no space left on") as err:
        write_atomic(target, torch_on_a_full_disk)
    assert err.value.errno == errno.ENOSPC and isinstance(err.value.__cause__, RuntimeError)
    assert target.read_bytes() == b"good" and os.listdir(tmp_path) == ["last.ckpt"]


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_write_that_must_not_replace_loses_to_a_file_published_meanwhile(tmp_path, monkeypatch, hard_links):
    if not hard_links:  # a file system without hard links: the name is claimed exclusively instead

        def no_link(*_):
            raise OSError(errno.EPERM, "hard links not supported")

        monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "out.png"
    write_atomic(target, lambda handle: handle.write(b"first"), replace=False)  # a new file: written
    assert target.read_bytes() == b"first"

    def written_meanwhile(handle):  # another writer publishes while this one is still writing
        handle.write(b"second")
        target.write_bytes(b"the other writer's")

    target.unlink()
    with pytest.raises(FileExistsError, match=r"out.png exists \(written meanwhile by another process\)"):
        write_atomic(target, written_meanwhile, replace=False)
    assert target.read_bytes() == b"the other writer's" and os.listdir(tmp_path) == ["out.png"]
