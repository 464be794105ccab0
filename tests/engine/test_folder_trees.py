"""Folder trees mirrored under the output folder, names from templates, never overwrite."""
import subprocess
import sys

import pytest
from pathlib import Path
from PIL import Image

from engine.jobs.batch import images_in, process_batch
from engine.jobs.naming import check_template, render_name, unused_path
from engine.jobs.resume import MANIFEST_NAME
from utils.errors import InvalidInput

from tests.conftest import ROOT


@pytest.fixture
def tree(tmp_path, chelsea):
    root = tmp_path / "photos"
    for rel in ("a.png", "1998/b.png", "1998/summer/c.jpg", "1998/summer/notes.txt"):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".txt":
            path.write_text("not an image")
        else:
            Image.fromarray(chelsea[:16, :24]).save(path)
    return root


def test_render_and_check_templates():
    assert render_name("{stem}_{model}_{scale}.{ext}", stem="cat", model="custom/my 2x", scale=2.5,
                       ext="png") == "cat_custom-my 2x_2.5x.png"
    with pytest.raises(InvalidInput, match="not a folder"):
        render_name("../../{stem}.{ext}", stem="cat", model="m", scale=4, ext="jpg")
    assert render_name("{stem}.{ext}", stem="../../cat", model="m", scale=4, ext="jpg") == "cat.jpg"
    with pytest.raises(InvalidInput, match="{size}"):
        check_template("{stem}_{size}.{ext}")
    with pytest.raises(InvalidInput, match="{ext}"):
        check_template("{stem}.png")


@pytest.mark.parametrize("template", ["{stem}.{ext}.html", "{stem}.{ext}.svg", "{stem}.html", "{stem}{ext}",
                                      "{ext}", "{stem}.{ext}.{stem}"])
def test_the_extension_is_always_last_and_the_apps(template):
    with pytest.raises(InvalidInput, match=r"must end with \.\{ext\}"):
        check_template(template)


@pytest.mark.parametrize("template", ["{stem:>100000000}.{ext}", "{stem:{ext}}.{ext}", "{stem!r}.{ext}",
                                      "{stem.__class__}.{ext}", "{stem[0]}.{ext}", "{model:^999}_{stem}.{ext}"])
def test_format_specs_and_field_paths_are_refused_in_one_sentence(template):
    with pytest.raises(InvalidInput) as error:
        render_name(template, stem="cat", model="m", scale=4, ext="png")
    message = str(error.value)
    assert "format or field part" in message and message.endswith(").") and "Invalid format" not in message


def test_template_edge_cases():
    assert render_name("{{{stem}}}.{ext}", stem="cat", model="m", scale=4, ext="png") == "{cat}.png"
    assert render_name("{stem}.html.{ext}", stem="cat", model="m", scale=4, ext="webp") == "cat.html.webp"
    assert render_name("{stem}.{ext}", stem="a.svg", model="m", scale=4, ext="png") == "a.svg.png"
    with pytest.raises(InvalidInput, match="unmatched brace"):
        check_template("a}b_{stem}.{ext}")
    with pytest.raises(InvalidInput, match="at most"):
        check_template("x" * 500 + ".{ext}")
    with pytest.raises(InvalidInput, match="not a result type"):
        render_name("{stem}.{ext}", stem="cat", model="m", scale=4, ext="html")


def test_every_result_type_the_app_writes_is_an_allowed_extension():
    from engine.jobs.naming import RESULT_EXTENSIONS
    from engine.jobs.video import CODECS
    from utils.image_formats import OUTPUT_FORMATS
    assert {*OUTPUT_FORMATS, *(extension for _, _, extension in CODECS.values()), "zip"} == RESULT_EXTENSIONS


def test_distinct_stems_are_predictable():
    from engine.jobs.naming import distinct_stems
    paths = [Path("a/pic.png"), Path("b/pic.gif"), Path("c/other.jpg"), Path("d/pic.png")]
    assert list(distinct_stems(paths).values()) == ["pic-png", "pic-gif", "other", "pic-png-2"]


def test_unused_path(tmp_path):
    (tmp_path / "x.png").write_bytes(b"1")
    (tmp_path / "x (2).png").write_bytes(b"2")
    assert unused_path(tmp_path / "x.png").name == "x (3).png"
    assert unused_path(tmp_path / "y.png").name == "y.png"


def test_tree_is_mirrored_with_templates(tree, tmp_path, manager):
    inputs = images_in(tree, recursive=True)
    assert [p.relative_to(tree).as_posix() for p in inputs] == ["1998/b.png", "1998/summer/c.jpg", "a.png"]
    out = tmp_path / "out"
    result = process_batch(inputs, model_manager=manager, output_dir=out, model_name="realesr-animevideov3",
                           outscale=2, input_root=tree, name_template="{stem}_{scale}.{ext}")
    assert result.failed == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)
    assert written == ["1998/b_2x.png", "1998/summer/c_2x.jpg", "a_2x.png"]
    again = process_batch(inputs, model_manager=manager, output_dir=out, model_name="realesr-animevideov3",
                          outscale=2, input_root=tree, name_template="{stem}_{scale}.{ext}", overwrite=False)
    assert sorted(i.output_path.name for i in again.items) == ["a_2x (2).png", "b_2x (2).png", "c_2x (2).jpg"]


def test_resume_finds_results_named_by_a_template(tree, tmp_path, manager):
    inputs = images_in(tree, recursive=True)
    options = dict(model_manager=manager, output_dir=tmp_path / "out", model_name="realesr-animevideov3",
                   outscale=2, input_root=tree, name_template="{stem}-{model}-{scale}.{ext}")
    first = process_batch(inputs[:2], **options)
    again = process_batch(inputs, resume=True, **options)
    assert [i.status for i in again.items] == ["skipped", "skipped", "ok"]
    assert [i.output_path for i in again.items[:2]] == [i.output_path for i in first.items]


def test_cli_recursive_keep_name(tree, tmp_path, cli_env):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "batch", str(tree), "-o", str(out), "-r",
                             "--keep-name", "-n", "realesr-animevideov3", "-s", "1"], env=cli_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != MANIFEST_NAME) == [
        "1998/b.png", "1998/summer/c.jpg", "a.png"]
