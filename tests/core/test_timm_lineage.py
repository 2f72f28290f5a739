"""core.timm_registry's lineage over timm's whole registry: pretraining data, fine-tuning data, parent tag.

The expectations come from a table of dataset tokens written here, independent of the parser's own table, and
are checked against every name `timm.list_pretrained()` lists.
"""

import re

import pytest
import timm

from core.timm_registry import fine_tuned_from, iter_pretrained_records, parent_tag

# tag token -> how the readable name of its dataset starts
FAMILIES = {
    "in1k": "imagenet-1k",
    "in12k": "imagenet-12k",
    "in21k": "imagenet-21k",
    "in22k": "imagenet-22k",
    "ig1b": "instagram-1b",
    "swag": "instagram-3.6b",
    "seer": "instagram-1b",
    "jft": "jft-300m",
    "laion2b": "laion-2b",
    "laion400m": "laion-400m",
    "openai": "openai-wit-400m",
    "dfn2b": "dfn-2b",
    "dfn5b": "dfn-5b",
    "datacomp1b": "datacomp-1b",
    "datacompxl": "datacomp-xl",
    "merged2b": "merged-2b",
    "metaclip": "metaclip",
    "webli": "webli",
    "lvd142m": "lvd-142m",
    "yfcc100m": "yfcc-100m",
    # the others a tag may start from, so a tag pretrained on one of them is not counted as in1k's
    "laiona": "laion-aesthetics",
    "m30m": "merged-30m",
    "m38m": "merged-38m",
    "cc12m": "cc-12m",
    "yfcc15m": "yfcc-15m",
    "dfndr2b": "dfndr-2b",
    "lvd1689m": "lvd-1689m",
    "sat493m": "sat-493m",
    "metaclip2": "metaclip-2",
    "inw21k": "imagenet-21k-winter21",
}


@pytest.fixture(scope="module")
def records():
    return list(iter_pretrained_records())


def _family_tokens(tag: str) -> list[str]:
    return [token for token in tag.split("_") if token in FAMILIES]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_tag_pretrained_on_a_family_says_so(records, family):
    pretrained = [r for r in records if _family_tokens(r.tag)[:1] == [family]]

    assert pretrained, f"no tag in timm {timm.__version__} is pretrained on {family}: the table is stale"
    wrong = [
        (r.name, r.pretrained_on) for r in pretrained if not r.pretrained_on.startswith(FAMILIES[family])
    ]
    assert wrong == []


def test_every_fine_tune_names_its_last_dataset_and_others_name_none(records):
    wrong = []
    for r in records:
        tokens = _family_tokens(r.tag)
        if len({FAMILIES[token] for token in tokens}) > 1:
            right = r.fine_tuned_on != "" and r.fine_tuned_on.startswith(FAMILIES[tokens[-1]])
        else:
            right = r.fine_tuned_on == ""
        if not right:
            wrong.append((r.name, r.fine_tuned_on))

    assert wrong == []


def test_no_fine_tune_of_a_larger_dataset_claims_imagenet_1k_pretraining(records):
    fine_tunes = [r for r in records if r.tag.endswith("ft_in1k") and _family_tokens(r.tag)[0] != "in1k"]

    assert len(fine_tunes) > 100  # in21k, in22k, in12k, laion2b, openai, ig1b, ... fine-tunes
    assert [r.name for r in fine_tunes if r.pretrained_on == "imagenet-1k"] == []
    assert {r.fine_tuned_on for r in fine_tunes} == {"imagenet-1k"}
    assert all(r.head_dataset == "imagenet-1k" for r in fine_tunes)


# "<parent>_ft_in1k" with at most a resolution after it: one fine-tuning step, so the parent is the text before.
ONE_STEP = re.compile(r"^(?P<parent>.+)_ft_in1k(_\d+)?$")


def test_a_one_step_fine_tune_points_at_its_parent_exactly_when_the_registry_holds_it(records):
    names = set(timm.list_pretrained())
    checked = with_parent = 0
    for r in records:
        match = ONE_STEP.match(r.tag)
        if not match or "_ft_" in match["parent"]:
            continue
        parent = f"{r.architecture}.{match['parent']}"
        checked += 1
        with_parent += parent in names
        assert r.fine_tuned_from == (parent if parent in names else ""), r.name

    assert checked > 100 and with_parent > 50


def test_every_parent_is_an_earlier_stage_of_the_same_architecture(records):
    by_name = {r.name: r for r in records}
    children = [r for r in records if r.fine_tuned_from]

    assert children
    for child in children:
        parent = by_name[child.fine_tuned_from]
        assert parent.architecture == child.architecture
        assert child.tag.startswith(parent.tag + "_")
        assert child.datasets[: len(parent.datasets)] == parent.datasets
        assert len(child.datasets) > len(parent.datasets) or child.tag.count("_ft_") > parent.tag.count(
            "_ft_"
        )


@pytest.mark.parametrize(
    ("name", "parent"),
    [
        ("vit_base_patch16_224.augreg_in21k_ft_in1k", "vit_base_patch16_224.augreg_in21k"),
        ("convnext_base.fb_in22k_ft_in1k", "convnext_base.fb_in22k"),
        ("vit_base_patch16_clip_224.laion2b_ft_in12k_in1k", "vit_base_patch16_clip_224.laion2b_ft_in12k"),
        ("beit_base_patch16_224.in22k_ft_in22k_in1k", "beit_base_patch16_224.in22k_ft_in22k"),
        ("regnety_320.seer_ft_in1k", "regnety_320.seer"),
        # no vit_base_patch16_384.augreg_in21k in the registry: no guess at the 224 one
        ("vit_base_patch16_384.augreg_in21k_ft_in1k", ""),
        ("resnet50.fb_swsl_ig1b_ft_in1k", ""),  # the Instagram-pretrained weights are not in timm
        ("resnet18.a1_in1k", ""),
        ("convnext_base.fb_in22k_ft_in1k_384", "convnext_base.fb_in22k"),
    ],
)
def test_it_finds_the_parent_in_the_registry(name, parent):
    assert fine_tuned_from(name, set(timm.list_pretrained())) == parent


@pytest.mark.parametrize(
    ("tag", "parent"),
    [
        ("laion2b_ft_in12k_in1k", "laion2b_ft_in12k"),
        ("augreg_in21k_ft_in1k", "augreg_in21k"),
        ("in1k_384", ""),
        ("a1_in1k", ""),
        ("ns_jft_in1k", "ns_jft"),
        ("", ""),
    ],
)
def test_the_parent_tag_is_the_stage_before_the_last_dataset(tag, parent):
    assert parent_tag(tag) == parent
