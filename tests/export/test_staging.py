"""Staging folders of interrupted exports are removed by the next export; live ones are kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from mtrec_tf.export.staging import STALE_SECONDS, host_id, remove_stale_staging, staging_name


def _folder(base, name: str, age_seconds: float = 0.0) -> str:
    folder = base / name
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    when = time.time() - age_seconds
    for path in (folder / "saved_model.pb", folder):
        os.utime(path, (when, when))
    return name


def _finished_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_folder_whose_process_is_gone_from_this_machine_is_removed_at_once(tmp_path):
    gone = _folder(tmp_path, f".3-{host_id()}-{_finished_pid()}-0123abcd")
    assert remove_stale_staging(str(tmp_path)) == [gone]
    assert list(tmp_path.iterdir()) == []


def test_other_folders_are_kept_until_nothing_changed_in_them_for_an_hour(tmp_path):
    names = [_folder(tmp_path, staging_name(4)),  # this process's
             _folder(tmp_path, f".5-{host_id()}-{os.getppid()}-0123abcd"),  # a running process's
             _folder(tmp_path, f".6-0badf00d-{_finished_pid()}-0123abcd"),  # another machine's
             _folder(tmp_path, ".7-d6711e56")]  # an owner the name does not tell
    assert remove_stale_staging(str(tmp_path)) == []
    assert remove_stale_staging(str(tmp_path), now=time.time() + 2 * STALE_SECONDS) == sorted(names)
    assert list(tmp_path.iterdir()) == []


def test_versions_and_other_names_are_never_touched(tmp_path):
    keep = [_folder(tmp_path, name, age_seconds=2 * STALE_SECONDS)
            for name in ("1", ".1", ".tmp", ".1-d6711e56.old", "x.1-d6711e56", ".1-D6711E56")]
    (tmp_path / ".2-d6711e56").write_bytes(b"a file, not a folder")
    assert remove_stale_staging(str(tmp_path)) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + [".2-d6711e56"])
