"""Import of official MIRNet checkpoints, on a checkpoint built from the official key list (docs/specs/mirnet.md)."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from lle.models import from_official

# The keys, shapes and aliases of the released checkpoint (swz30/MIRNet, model_enhancement.pth), read off the
# official model and kept in the repository so that every CI checks the import against it.
TSV = Path(__file__).resolve().parent / "data" / "mirnet_official_state_dict.tsv"

PREFIX = "body.0.body.0."  # first MSRB of the first RRG


@pytest.fixture(scope="module")
def official():
    """Official key → tensor, with one random value per alias group (aliased keys are equal copies)."""
    with TSV.open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    generator = torch.Generator().manual_seed(0)
    values = {}
    state, groups = {}, defaultdict(list)
    for row in rows:
        shape = [int(s) for s in row["shape"].split("x")]
        group = int(row["alias_group"])
        if group not in values:
            values[group] = torch.randn(shape, generator=generator)
        state[row["key"]] = values[group].clone()
        groups[group].append(row["key"])
    return state, dict(groups)


def source_groups(net, state, groups):
    """For each lle state-dict key, the alias group whose value it holds (by value: every group is distinct)."""
    group_by_bytes = {state[keys[0]].numpy().tobytes(): g for g, keys in groups.items()}
    assert len(group_by_bytes) == len(groups)
    return {name: group_by_bytes.get(tensor.numpy().tobytes()) for name, tensor in net.state_dict().items()}


def test_every_tensor_lands_once_from_a_wrapped_file(official, tmp_path):
    state, groups = official
    path = tmp_path / "model_best.pth"
    # As train_denoising.py saves it from nn.DataParallel.
    torch.save({"epoch": 1, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    net = from_official("mirnet", path)

    found = source_groups(net, state, groups)
    assert [name for name, group in found.items() if group is None] == []  # every lle tensor comes from the file
    unique = {id(t): found[name] for name, t in net.state_dict(keep_vars=True).items()}
    # Each lle tensor holds one official alias group, and each group lands in exactly one lle tensor.
    assert sorted(unique.values()) == sorted(groups)

    # Semantic spot checks, written independently of the importer's rules.
    group_of = {key: g for g, keys in groups.items() for key in keys}
    expected = {
        "conv_in.weight": "conv_in.weight",
        "conv_out.weight": "conv_out.weight",
        "dau_act.weight": PREFIX + "blocks.0.0.body.1.weight",
        "groups.2.conv.weight": "body.2.body.2.weight",
        "groups.1.blocks.1.daus.0.2.conv1.weight": "body.1.body.1.blocks.2.0.body.0.weight",
        "groups.0.blocks.0.daus.0.1.conv2.weight": PREFIX + "blocks.1.1.body.2.weight",
        "groups.0.blocks.0.daus.0.0.spatial_attention.conv.weight": PREFIX + "blocks.0.0.SA.spatial.conv.weight",
        "groups.0.blocks.0.daus.0.0.channel_attention.squeeze.weight": PREFIX + "blocks.0.0.CA.conv_du.0.weight",
        "groups.0.blocks.0.daus.0.0.channel_attention.excite.weight": PREFIX + "blocks.0.0.CA.conv_du.2.weight",
        "groups.0.blocks.0.daus.0.2.fuse.weight": PREFIX + "blocks.2.0.conv1x1.weight",
        "groups.0.blocks.1.down.0_to_2.body.1.top.5.weight": "body.0.body.1.down.64_4.body.1.top.5.weight",
        "groups.0.blocks.0.down.0_to_1.body.0.bot.0.filt": PREFIX + "down.64_2.body.0.bot.0.filt",
        "groups.0.blocks.0.down.1_to_2.body.0.top.1.weight": PREFIX + "down.128_2.body.0.top.1.weight",
        "groups.0.blocks.0.up.2_to_0.body.1.top.2.weight": PREFIX + "up.256_4.body.1.top.2.weight",
        "groups.0.blocks.0.up.2_to_1.body.0.bot.1.weight": PREFIX + "up.256_2.body.0.bot.1.weight",
        "groups.0.blocks.0.up.1_to_0.body.0.top.4.weight": PREFIX + "up.128_2.body.0.top.4.weight",
        "groups.0.blocks.0.output_up.2.body.1.top.0.weight": PREFIX + "last_up.2.body.1.top.0.weight",
        "groups.0.blocks.0.output_up.1.body.0.top.3.weight": PREFIX + "last_up.1.body.0.top.3.weight",
        "groups.0.blocks.0.skff.1.squeeze.weight": PREFIX + "selective_kernel.1.conv_du.0.weight",
        "groups.0.blocks.0.skff.2.act.weight": PREFIX + "selective_kernel.2.conv_du.1.weight",
        "groups.0.blocks.0.skff.0.select.2.weight": PREFIX + "selective_kernel.0.fcs.2.weight",
        "groups.0.blocks.0.conv_out.weight": PREFIX + "conv_out.weight",
    }
    for ours, theirs in expected.items():
        assert found[ours] == group_of[theirs], f"{ours} should hold {theirs}"


def test_independent_daus_receive_each_column(official):
    state, _groups = official
    net = from_official("mirnet", state, share_dau_columns=False)
    sd = net.state_dict()
    assert len(sd) == len(state)  # one lle tensor per official key
    assert torch.equal(sd["groups.0.blocks.0.daus.1.2.conv1.weight"], state[PREFIX + "blocks.2.1.body.0.weight"])
    assert torch.equal(sd["groups.2.blocks.1.daus.1.0.act.weight"], state["body.2.body.1.blocks.0.1.body.1.weight"])


def test_a_bare_state_dict_loads(official):
    state, _ = official
    net = from_official("mirnet", state)
    assert torch.equal(net.conv_in.weight, state["conv_in.weight"])


def test_differing_aliases_are_named(official):
    state, _ = official
    state = dict(state)
    column2 = PREFIX + "blocks.1.1.body.0.weight"
    state[column2] = state[column2] + 1
    with pytest.raises(ValueError, match="shared tensor") as error:
        from_official("mirnet", state)
    assert column2 in str(error.value) and PREFIX + "blocks.1.0.body.0.weight" in str(error.value)


def test_a_differing_shared_prelu_is_named(official):
    state, _ = official
    state = dict(state)
    key = "body.2.body.1.blocks.2.1.body.1.weight"
    state[key] = state[key] + 0.5
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        from_official("mirnet", state)


def test_missing_unexpected_and_misshapen_keys_are_named(official):
    state, _ = official
    for broken, name in [
        (
            {k: v for k, v in state.items() if k != "body.1.body.0.down.64_4.body.0.top.2.weight"},
            "body.1.body.0.down.64_4.body.0.top.2.weight",
        ),
        (
            {k: v for k, v in state.items() if k != PREFIX + "blocks.0.1.conv1x1.weight"},  # an alias is missing too
            PREFIX + "blocks.0.1.conv1x1.weight",
        ),
        ({**state, "body.0.body.0.extra.weight": torch.zeros(1)}, "body.0.body.0.extra.weight"),
        ({**state, "conv_in.weight": torch.zeros(64, 4, 3, 3)}, "conv_in.weight"),
    ]:
        with pytest.raises(ValueError) as error:
            from_official("mirnet", broken)
        assert name in str(error.value)
    with pytest.raises(ValueError, match="no importer"):
        from_official("not_a_model", state)


def test_lle_eval_accepts_an_official_weight_file(official, tmp_path):
    from conftest import compose_config
    from lle.cli.eval import evaluate

    state, _ = official
    path = tmp_path / "model_best.pth"
    # Unit-variance weights overflow a 31 M-parameter network (its output is not finite, which lle-eval refuses
    # to score); scaled, they are still arbitrary, and aliases stay equal.
    torch.save({"state_dict": {f"module.{k}": v * 0.05 for k, v in state.items()}}, path)
    cfg = compose_config(
        "eval",
        [
            "trainer=cpu",
            f"model_weights=official:mirnet:{path}",
            "data.num_test=1",
            "data.eval_crop_size=32",
            "data.eval_batch_size=1",
            "baselines=false",
        ],
        tmp_path / "eval",
    )
    result = evaluate(cfg)
    assert result["status"] == "ok" and result["choice/model"] == "mirnet" and result["params"] == 31_787_419
    assert result["checkpoint"] == f"official:mirnet:{path}"
