import logging
import logging.handlers

from utils.logger import get_logger, setup_logging


def test_rotating_file_and_no_duplicate_handlers(tmp_path):
    log_file = tmp_path / "logs" / "app.log"
    setup_logging(log_file, "DEBUG", max_bytes=1000, backup_count=2, console=False)
    setup_logging(log_file, "DEBUG", max_bytes=1000, backup_count=2, console=False)
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)
            and h.baseFilename == str(log_file)]
    assert len(ours) == 1 and ours[0].maxBytes == 1000 and ours[0].backupCount == 2
    logger = get_logger("test.rotation")
    for i in range(100):
        logger.info("line %d with some padding to fill the file quickly", i)
    files = sorted(p.name for p in log_file.parent.iterdir())
    assert files == ["app.log", "app.log.1", "app.log.2"]
    setup_logging(None, "INFO", console=False)  # detach from tmp_path before it goes away
