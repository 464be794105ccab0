import os

import pytest

from utils.files import OutputWriteError, atomic_path, write_text_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "settings.json"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half-writ")
            raise RuntimeError("crash mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_folder_gives_one_clear_sentence(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputWriteError, match="read-only or no permission"):
            write_text_atomic(folder / "x.txt", "data")
    finally:
        folder.chmod(0o700)


def test_full_disk_is_described_in_one_sentence(tmp_path):
    import errno

    from utils.files import describe_os_error
    message = describe_os_error(tmp_path / "out.png", OSError(errno.ENOSPC, "No space left on device"))
    assert "full" in message and str(tmp_path) in message
