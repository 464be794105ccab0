from pathlib import Path

import pytest

from config import PREFIX, AppConfig, ConfigError, documented_settings

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_listen_on_localhost_without_share():
    config = AppConfig.from_env({}, env_file="")
    assert (config.SERVER_NAME, config.SERVER_PORT, config.SHARE) == ("127.0.0.1", 8081, False)
    assert config.AUTH is None
    assert config.WEIGHTS_DIR.is_absolute()


def test_values_are_typed():
    config = AppConfig.from_env({"REALESRGAN_SERVER_PORT": "9000", "REALESRGAN_SHARE": "yes",
                                 "REALESRGAN_GPU_MEMORY_RESERVE": "0.25", "REALESRGAN_AUTH": "ann:secret",
                                 "REALESRGAN_DEVICE": "cuda:1"}, env_file="")
    assert config.SERVER_PORT == 9000 and config.SHARE is True
    assert config.GPU_MEMORY_RESERVE == 0.25
    assert config.AUTH == ("ann", "secret") and config.LOGINS == (("ann", "secret"),)
    assert config.DEVICE == "cuda:1"
    assert AppConfig.from_env({"REALESRGAN_AUTH": "ann:pa,ss:word"}, env_file="").AUTH == ("ann", "pa,ss:word")


def test_several_logins_from_a_file(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("# web users\nbob:b0b:pass, with comma\n\ncat:meow\n")
    config = AppConfig.from_env({"REALESRGAN_AUTH": "ann:secret", "REALESRGAN_AUTH_FILE": str(users)}, env_file="")
    assert config.LOGINS == (("ann", "secret"), ("bob", "b0b:pass, with comma"), ("cat", "meow"))
    users.write_text("bob:1\nbob:2\n")
    with pytest.raises(ConfigError, match="line 2: 'bob' is named twice"):
        AppConfig.from_env({"REALESRGAN_AUTH_FILE": str(users)}, env_file="")
    with pytest.raises(ConfigError, match="cannot be read"):
        AppConfig.from_env({"REALESRGAN_AUTH_FILE": str(tmp_path / "missing")}, env_file="")


@pytest.mark.parametrize("name,value,accepted", [
    ("SERVER_PORT", "abc", "[1, 65535]"),
    ("SERVER_PORT", "70000", "[1, 65535]"),
    ("SHARE", "maybe", "true or false"),
    ("DEVICE", "tpu", "cuda:N"),
    ("LOG_LEVEL", "loud", "debug, info"),
    ("AUTH", "nopassword", "user:password"),
    ("GPU_MEMORY_RESERVE", "2", "[0.0, 0.9]"),
])
def test_invalid_value_names_variable_value_and_what_is_accepted(name, value, accepted):
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_env({PREFIX + name: value}, env_file="")
    message = str(caught.value)
    assert PREFIX + name in message and accepted in message and "\n" not in message
    if name != "AUTH":  # a password-like value is not echoed back
        assert value in message


def test_env_file_is_read_and_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("REALESRGAN_SERVER_PORT=9100\nREALESRGAN_MAX_IMAGE_SIZE_MB=7\n")
    config = AppConfig.from_env({"REALESRGAN_SERVER_PORT": "9200"}, env_file=env_file)
    assert config.SERVER_PORT == 9200 and config.MAX_IMAGE_SIZE_MB == 7


def test_relative_paths_are_under_the_project_and_derived_paths_follow_data_dir(tmp_path):
    config = AppConfig.from_env({"REALESRGAN_OUTPUT_DIR": "results", "REALESRGAN_DATA_DIR": str(tmp_path)},
                                env_file="")
    assert config.OUTPUT_DIR == ROOT / "results"
    assert config.LOG_FILE.parent == tmp_path / "logs" and config.BACKUP_DIR == tmp_path / "backups"


def test_ensure_directories_creates_every_folder(tmp_path):
    config = AppConfig.from_env({f"{PREFIX}{n}": str(tmp_path / n.lower()) for n in
                                 ("INPUT_DIR", "OUTPUT_DIR", "WEIGHTS_DIR", "DATA_DIR")}, env_file="")
    config.ensure_directories()
    for path in (config.INPUT_DIR, config.OUTPUT_DIR, config.WEIGHTS_DIR / "custom", config.LOG_FILE.parent):
        assert path.is_dir()


def test_env_example_lists_every_variable_with_a_comment():
    text = (ROOT / ".env.example").read_text()
    for variable, _default, doc in documented_settings():
        assert f"{variable}=" in text, variable
        assert doc in text, variable


def test_seed_spelling_config_is_available():
    import config as module
    assert isinstance(module.Config, AppConfig)
