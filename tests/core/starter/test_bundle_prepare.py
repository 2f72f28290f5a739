"""The bundle's prepare.py: images anywhere via data.root, sub-folders read like the hub, unused files named."""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from PIL import Image

from core.starter import TargetConfig, build_bundle
from tests.core.starter.test_builder import make_record


def image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path)


def test_prepare_reads_data_root_from_params_and_names_every_unused_file(tmp_path):
    project = tmp_path / "project"
    zipfile.ZipFile(io.BytesIO(build_bundle(make_record(), TargetConfig(num_classes=2)))).extractall(project)
    images = tmp_path / "elsewhere"
    for split, count in (("train", 3), ("val", 1)):
        for label in ("a", "b"):
            for index in range(count):
                image(images / split / label / f"{index}.png", 40 * index)
    image(images / "train" / "a" / "more" / "nested.png", 200)  # read, as the hub's harness reads it
    (images / "train" / "a" / ".DS_Store").write_bytes(b"\0")
    (images / "train" / "b" / "labels.csv").write_text("x\n")
    (images / "train" / "notes.txt").write_text("about")
    params = project / "params.yaml"
    params.write_text(params.read_text().replace("  root: data\n", f"  root: {images}\n"))

    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "DJANGO"))}
    result = subprocess.run(
        [sys.executable, "-E", "-s", "prepare.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert f"3 files under {images} are not used" in result.stdout
    for name in ("train/a/.DS_Store", "train/b/labels.csv", "train/notes.txt"):
        assert f"  {images / name}" in result.stdout
    splits = json.loads((project / "prepared" / "splits.json").read_text())
    train = [item["path"] for item in splits["train"]]
    assert str(images / "train" / "a" / "more" / "nested.png") in train
    assert len(train) == 7 and len(splits["val"]) == 2
