"""The write log never gives a sequence number twice, even after a crash between an entry's commit
point and the update of `HEAD`."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexers.base import Doc
from indexers.storage.versions import atomic_write
from service.writelog import WriteLog, doc_line


class Crash(BaseException):
    """A process killed at this point."""


def test_an_entry_committed_before_head_keeps_its_number_after_truncation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = WriteLog(tmp_path / "log")
    with log.appending():
        log.append("add", "job-1", [doc_line(Doc(id="a", text="one"))])

    def dies_before_head(path: Path, text: str | bytes) -> None:
        if path.name == "HEAD":
            raise Crash
        atomic_write(path, text)

    monkeypatch.setattr("service.writelog.atomic_write", dies_before_head)
    with pytest.raises(Crash), log.appending():  # the entry file is in place (acknowledged write)
        log.append("add", "job-2", [doc_line(Doc(id="b", text="two"))])
    monkeypatch.undo()
    assert log.head() == 2
    log.mark_stored(2)  # recovery applied it to the store; a job indexed it and truncated the log
    log.truncate(2)
    with log.appending():
        third = log.append("add", "job-3", [doc_line(Doc(id="c", text="three"))])
    assert third.seq == 3
    assert [entry.seq for entry in log.entries(after=log.stored())] == [3]  # the store will apply it
