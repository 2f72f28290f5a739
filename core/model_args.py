"""The timm.create_model keyword arguments a catalog entry may store: an allow-list, checked on every write.

timm.create_model(**model_args) runs in the web process (weights checks) and in workers (benchmarks), so a stored
argument is code input: `checkpoint_path` makes timm call torch.load on a server path, `pretrained` /
`pretrained_cfg*` / `cache_dir` make it download or read files, `features_only` changes the model's outputs.
Only architecture-shape arguments are allowed, each with a type and range; strings only from fixed sets, so
no value can name a path or URL. Nothing here imports Django: harness, weights checks and the bundle builder
call `checked` too, so rows stored before this check cannot reach timm either (a loud error, not a drop).
"""

from collections.abc import Callable, Mapping
from typing import Any

MAX_LIST_LENGTH = 8

# Named in the refusal so an operator sees why, not only that, a key is refused.
REFUSED_KEYS: dict[str, str] = {
    "num_classes": "it has its own field (num_classes)",
    "pretrained": "the hub loads its own stored weights; timm must not download or read any",
    "pretrained_cfg": "it makes timm read or download weights",
    "pretrained_cfg_overlay": "it makes timm read or download weights",
    "pretrained_strict": "it changes how timm loads weights",
    "checkpoint_path": "it makes timm load a file from the server's disk",
    "cache_dir": "it points timm at a directory on the server",
    "features_only": "it changes the model's outputs",
    "out_indices": "it changes the model's outputs",
    "feature_cfg": "it changes the model's outputs",
    "scriptable": "it changes how timm builds layers",
    "exportable": "it changes how timm builds layers",
}


class ModelArgsError(ValueError):
    """A model_args key or value that is not allowed; the message names the key."""


def _number(value: Any, *, integer: bool, low: float, high: float) -> str | None:
    # bool is an int subclass in Python: True must not pass for in_chans=1.
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return f"must be {'an integer' if integer else 'a number'}"
    if not (low <= value <= high):  # also refuses NaN (every comparison with it is False)
        return f"must be between {low:g} and {high:g}"
    return None


def _int(low: int, high: int) -> Callable[[Any], str | None]:
    return lambda value: _number(value, integer=True, low=low, high=high)


def _float(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda value: _number(value, integer=False, low=low, high=high)


def _int_or_ints(low: int, high: int) -> Callable[[Any], str | None]:
    """An int, or a short list of them (img_size=[32, 32], depths=[2, 2, 6, 2])."""

    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return _number(value, integer=True, low=low, high=high)
        if not 1 <= len(value) <= MAX_LIST_LENGTH:
            return f"must be an integer or a list of 1 to {MAX_LIST_LENGTH} integers"
        problems = [_number(item, integer=True, low=low, high=high) for item in value]
        return next((f"items {problem}" for problem in problems if problem), None)

    return check


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in choices else f"must be one of {list(choices)}"

    return check


RATE = _float(0.0, 1.0)

ALLOWED: dict[str, Callable[[Any], str | None]] = {
    # regularisation: no effect on the state dict's shapes
    "drop_rate": RATE,
    "drop_path_rate": RATE,
    "drop_block_rate": RATE,
    "attn_drop_rate": RATE,
    "proj_drop_rate": RATE,
    "pos_drop_rate": RATE,
    "patch_drop_rate": RATE,
    # shape of the network and its input
    "in_chans": _int(1, 4),
    "img_size": _int_or_ints(1, 4096),
    "patch_size": _int_or_ints(1, 4096),
    "embed_dim": _int_or_ints(1, 65536),
    "depth": _int(1, 1000),
    "depths": _int_or_ints(1, 1000),
    "num_heads": _int_or_ints(1, 1024),
    "mlp_ratio": _float(0.0, 64.0),
    "reg_tokens": _int(0, 64),
    "output_stride": _int(1, 64),
    "channel_multiplier": _float(0.0, 16.0),
    "width_multiplier": _float(0.0, 16.0),
    "init_values": _float(0.0, 10.0),
    "qkv_bias": _bool,
    "qk_norm": _bool,
    "class_token": _bool,
    "no_embed_class": _bool,
    "fc_norm": _bool,
    "dynamic_img_size": _bool,
    "dynamic_img_pad": _bool,
    "strict_img_size": _bool,
    "global_pool": _one_of("", "avg", "max", "avgmax", "catavgmax", "fast", "token", "map"),
}


def problems(model_args: Any) -> dict[str, str]:
    """Each refused key with why; empty when every key and value is allowed."""
    if not isinstance(model_args, Mapping):
        return {"model_args": "must be an object of timm.create_model keyword arguments"}
    found: dict[str, str] = {}
    for key, value in model_args.items():
        if key in REFUSED_KEYS:
            found[key] = f"is not allowed: {REFUSED_KEYS[key]}"
        elif key not in ALLOWED:
            found[str(key)[:64]] = "is not on the allow-list of architecture arguments"
        elif problem := ALLOWED[key](value):
            found[key] = problem
    return found


def describe(found: Mapping[str, str]) -> str:
    """One sentence naming every refused key, e.g. for an API error or a worker's failure."""
    return "model_args " + "; ".join(f"{key!r} {problem}" for key, problem in sorted(found.items())) + "."


def checked(model_args: Any) -> dict[str, Any]:
    """The arguments as a dict, or ModelArgsError: for code about to call timm.create_model(**model_args)."""
    found = problems(model_args)
    if found:
        raise ModelArgsError(describe(found) + f" Allowed keys: {', '.join(sorted(ALLOWED))}.")
    return dict(model_args)


def servable(model_args: Any) -> dict[str, Any]:
    """Only the allowed, well-formed entries: what config.json may hand to a client's timm.create_model. A row
    stored before the allow-list may hold a refused one (checkpoint_path, pretrained_cfg, ...); serving it would
    make the client read or download files, so it is left out of the served file (running the model here still
    fails loudly through `checked`)."""
    if not isinstance(model_args, Mapping):
        return {}
    return {key: value for key, value in model_args.items() if not problems({key: value})}
