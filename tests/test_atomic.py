"""The one atomic write: whole files or none, nothing left behind, ordinary permissions."""

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
