"""A quick check that this project runs here: pytest tests/test_smoke.py (seconds, no download, no data).

Builds the model from params.yaml with random weights, checks the new head's size, that the layer groups cover
the backbone, and that one forward/backward step works on the preprocessing's input size.
"""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common


def test_model_builds_and_trains_one_step():
    params = common.load_params()
    num_classes = int(params["target"]["num_classes"])
    torch.manual_seed(0)
    model = common.create_model(params, num_classes)
    assert model.num_classes == num_classes

    owner = common.assign_parameters(model, params["layers"])
    head = [name for name, group in owner.items() if group is None]
    assert head, "no classifier parameters found"
    assert any(p.shape[0] == num_classes for name, p in model.named_parameters() if name in head)

    model.train()
    images = torch.randn(2, *params["data"]["input_size"])
    logits = model(images)
    assert logits.shape == (2, num_classes)
    loss = F.cross_entropy(logits, torch.tensor([0, 1]))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_preprocessing_gives_the_model_input_size():
    params = common.load_params()
    size = tuple(params["data"]["input_size"])
    image = Image.new("RGB", (size[2] + 17, size[1] + 5), color=(120, 60, 30))
    assert tuple(common.eval_transform(params)(image).shape) == size
    assert tuple(common.train_transform(params)(image).shape) == size
