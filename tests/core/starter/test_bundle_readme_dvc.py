"""A starter bundle does exactly what its README says: the README's dvc steps, run verbatim on an unzipped bundle.

The digits demo model (resnet10t, digits 0-4) is seeded into a live Depot; its bundle for all ten digits is
requested as the hub README documents (POST, options in the query string), unzipped, given the digits
ImageFolder, and the commands of the bundle README's "With dvc" block are parsed out of the README and run one
by one in a shell: git init, dvc init, the first commit, dvc repro, dvc metrics show, dvc exp run -S ..., dvc exp
show. If the README and what works drift apart, this fails. Nothing is installed beyond requirements-dev.txt
(dvc); the weights are downloaded from the live hub by the bundle's train.py, sha256 checked.
"""

import io
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from demo import seed as demo_seed
from demo.seed import demo_catalog_seed
from demo.training import demo_spec

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SPEC = demo_spec("digits-resnet10t")
# A short budget keeps each training to seconds on 2 cores; the README's own `dvc exp run -S` changes epochs.
OPTIONS = "num_classes=10&epochs=3&batch_size=32&lr_head=0.003&lr_backbone=0.001"
# Images per class copied into the bundle's data/: enough for >= 90% test top-1, few enough for seconds per epoch.
PER_CLASS = {"train": 60, "val": 10, "test": None}
TOP1 = re.compile(r"top-1 (\d+\.\d+)% on (\d+) images \(prepared test split\)")
COMMAND_TIMEOUT = 900


def readme_dvc_commands(readme: str) -> list[str]:
    """The shell lines of the first bash block under "## With dvc", comments dropped."""
    section = readme.split("## With dvc", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    commands = []
    for line in block.strip().splitlines():
        command = re.split(r"\s{2,}#", line, maxsplit=1)[0].strip()
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def user_env(project: Path) -> dict[str, str]:
    """A user's shell: the dev virtualenv's python and dvc first on PATH, a fresh HOME, git identity set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "DJANGO", "HF_"))}
    home = project.parent / "home"
    home.mkdir(exist_ok=True)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        HOME=str(home),
        HF_HOME=str(home / ".cache" / "huggingface"),
        DVC_NO_ANALYTICS="1",
        GIT_AUTHOR_NAME="Depot Test", GIT_AUTHOR_EMAIL="test@example.com",
        GIT_COMMITTER_NAME="Depot Test", GIT_COMMITTER_EMAIL="test@example.com",
    )  # fmt: skip
    return env


def shell(project: Path, command: str, env: dict[str, str]) -> str:
    started = time.perf_counter()
    result = subprocess.run(
        ["bash", "-c", command], cwd=project, env=env, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    print(f"$ {command}  ({time.perf_counter() - started:.1f}s)")
    output = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"`{command}` failed ({result.returncode}):\n{output[-4000:]}")
    return output


@pytest.mark.long(seconds=100)
def test_the_readme_dvc_steps_work_verbatim(live_server, settings, tmp_path, monkeypatch, demo_trainer):
    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    monkeypatch.setattr(demo_seed, "train_demo_model", demo_trainer)  # trained once per test run
    # Only the model the bundle is for: the ImageNet model's conversion would add seconds and nothing here.
    summary = demo_catalog_seed(report=lambda line: None, specs=(SPEC,), imagenet_model=False)
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/models/{SPEC.repo_id}/starter-bundle/?{OPTIONS}", method="POST"
    )
    with urllib.request.urlopen(request) as response:
        bundle = response.read()
    project = tmp_path / "project"
    zipfile.ZipFile(io.BytesIO(bundle)).extractall(project)
    for split, count in PER_CLASS.items():
        for class_dir in sorted((summary.dataset.root / split).iterdir()):
            (project / "data" / split / class_dir.name).mkdir(parents=True)
            for image in sorted(class_dir.iterdir())[:count]:
                shutil.copy(image, project / "data" / split / class_dir.name / image.name)

    commands = readme_dvc_commands((project / "README.md").read_text(encoding="utf-8"))
    assert commands[0].startswith("git init") and "git commit" in commands[0]
    assert "dvc repro" in commands and "dvc metrics show" in commands
    assert any(command.startswith("dvc exp run -S ") for command in commands)

    env = user_env(project)
    outputs = {command: shell(project, command, env) for command in commands}

    measured = TOP1.findall(outputs["dvc repro"])
    assert measured, outputs["dvc repro"][-3000:]
    top1, images = float(measured[-1][0]), int(measured[-1][1])
    print(f"test top-1 after dvc repro: {top1:.2f}% on {images} images")
    assert images == summary.dataset.split_sizes["test"] and top1 >= 90.0
    assert "outputs/eval_metrics.json" in outputs["dvc metrics show"]
    assert f"{top1:.2f}".rstrip("0").rstrip(".") in outputs["dvc metrics show"]
    experiment = next(command for command in commands if command.startswith("dvc exp run -S "))
    assert TOP1.search(outputs[experiment]), outputs[experiment][-3000:]
    assert "weights sha256 verified" in outputs["dvc repro"]
