"""Which folders of a base path are versions: integers holding a complete SavedModel."""

from __future__ import annotations

import pytest

from serving.model_server.repository import RepositoryError, is_complete, scan_versions


def savedmodel(folder, pb=True, variables=True, pbtxt=False):
    folder.mkdir(parents=True)
    if pb:
        (folder / "saved_model.pb").write_bytes(b"x")
    if pbtxt:
        (folder / "saved_model.pbtxt").write_text("x")
    if variables:
        (folder / "variables").mkdir()
    return folder


def test_only_complete_integer_folders_count(tmp_path):
    savedmodel(tmp_path / "1")
    savedmodel(tmp_path / "12")
    savedmodel(tmp_path / "3", pb=False, pbtxt=True)
    savedmodel(tmp_path / "4", variables=False)  # half-written
    savedmodel(tmp_path / "5", pb=False)  # half-written
    savedmodel(tmp_path / ".tmp-6")
    savedmodel(tmp_path / "7.partial")
    savedmodel(tmp_path / "-8")
    savedmodel(tmp_path / "٣")  # a digit, but not an ASCII one
    (tmp_path / "9").write_text("a file, not a folder")
    assert scan_versions(tmp_path) == {1: tmp_path / "1", 3: tmp_path / "3", 12: tmp_path / "12"}


def test_is_complete(tmp_path):
    assert is_complete(savedmodel(tmp_path / "a"))
    assert not is_complete(savedmodel(tmp_path / "b", variables=False))
    assert not is_complete(tmp_path / "nothing")


def test_a_missing_or_wrong_base_path_is_an_error(tmp_path):
    with pytest.raises(RepositoryError, match="does not exist"):
        scan_versions(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RepositoryError, match="not a folder"):
        scan_versions(tmp_path / "file")


def test_an_empty_base_path_has_no_versions(tmp_path):
    assert scan_versions(tmp_path) == {}
