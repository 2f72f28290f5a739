"""A starter bundle does exactly what its README says: both of its paths, run verbatim, one after the other.

The digits demo model (resnet10t, digits 0-4) is seeded into a live Depot; its bundle for all ten digits is
requested as the hub README documents (POST, options in the query string), unzipped and given the digits
ImageFolder. Then, in that one folder, as a user who tries the plain scripts first and dvc afterwards:
1. the commands of the bundle README's "The commands" block, parsed out of the README and run one by one
   (prepare, train, evaluate, predict, the optional smoke test);
2. the commands of its "With dvc" block: git init, dvc init, the first commit (`git add -A` after step 1: this is
   where a .gitignore that let git take prepared/ or outputs/ made dvc refuse "already tracked by SCM"), dvc repro,
   dvc metrics show, dvc exp run -S ..., dvc exp show.
If the README and what works drift apart, this fails. Two lines are not run: the venv creation and the
`pip install` (the test runs in the dev virtualenv, which holds requirements-dev.txt, dvc included), and one is
filled in: predict.py's placeholder image path becomes a real test image. The weights are downloaded from the
live hub by the bundle's train.py, sha256 checked.
"""

import io
import json
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


# The plain path's lines a test cannot run as written: installing into a fresh venv (the dev venv has it all).
INSTALL_LINES = ("python -m venv ", "pip install ")
PLACEHOLDER_IMAGE = "some/image.jpg"


def readme_commands(readme: str, heading: str) -> list[str]:
    """The shell lines of the first bash block under `heading`, comments dropped."""
    section = readme.split(heading, 1)[1]
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


@pytest.mark.long(seconds=130)
def test_the_readmes_plain_then_dvc_steps_work_verbatim_in_one_folder(
    live_server, settings, tmp_path, monkeypatch, demo_trainer
):
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

    readme = (project / "README.md").read_text(encoding="utf-8")
    plain = readme_commands(readme, "## The commands")
    assert [line for line in plain if line.startswith(INSTALL_LINES)] == plain[:2]
    assert any(PLACEHOLDER_IMAGE in line for line in plain)
    test_image = next((project / "data" / "test").rglob("*.png")).relative_to(project)
    plain = [line.replace(PLACEHOLDER_IMAGE, str(test_image)) for line in plain[2:]]
    commands = readme_commands(readme, "## With dvc")
    assert commands[0].startswith("git init") and "git commit" in commands[0]
    assert "dvc repro" in commands and "dvc metrics show" in commands
    assert any(command.startswith("dvc exp run -S ") for command in commands)

    env = user_env(project)
    plain_outputs = {command: shell(project, command, env) for command in plain}
    plain_top1 = TOP1.findall(plain_outputs["python evaluate.py"])
    assert plain_top1 and float(plain_top1[-1][0]) >= 90.0, plain_outputs["python evaluate.py"][-3000:]
    assert "first epoch took" in plain_outputs["python train.py"]  # train.py's own time estimate
    prediction = json.loads(plain_outputs[f"python predict.py {test_image}"].strip().splitlines()[-1])
    assert prediction["top_k"], prediction

    outputs = {command: shell(project, command, env) for command in commands}
    tracked = shell(project, "git ls-files", env).split()
    assert not [
        name for name in tracked if name.startswith(("prepared/", "data/train/", "data/val/", "data/test/"))
    ], tracked
    assert {name for name in tracked if name.startswith("outputs/")} <= {
        "outputs/metrics.json", "outputs/eval_metrics.json", "outputs/train_report.json", "outputs/eval_report.json"
    }  # fmt: skip

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
    # The experiments table leads with the top-1s: the metrics files hold nothing that crowds them out.
    exp_show = next(output for command, output in outputs.items() if command.startswith("dvc exp show"))
    print(exp_show)
    assert "top1" in exp_show and "best_val_top1" in exp_show, exp_show
    assert "confusion" not in exp_show and "history" not in exp_show and "common.py" not in exp_show, exp_show
