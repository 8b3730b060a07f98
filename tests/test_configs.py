"""Every config in every group composes, and wrong choices fail with the list of valid ones."""

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate

import lle.models
from conftest import CONFIG_DIR, compose_config
from lle.config import check_top_level_keys, check_values

GROUPS = ["data", "loss", "model", "trainer", "logger", "callbacks", "paths", "debug", "experiment"]


def options(group: str) -> list[str]:
    """The choices of a group; files starting with `_` are bases that choices extend (model/_classical)."""
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_option_composes(group, option, tmp_path):
    cfg = compose_config("train", [f"{group}={option}"], tmp_path)
    assert cfg.model._target_ and cfg.trainer._target_ and cfg.data._target_
    check_top_level_keys(cfg, "train")  # every shipped option passes lle-train's own checks
    check_values(cfg)


@pytest.mark.parametrize("option", options("data"))
def test_eval_composes_with_every_dataset(option, tmp_path):
    cfg = compose_config("eval", [f"data={option}"], tmp_path)
    assert cfg.data._target_


def test_available_models_are_the_model_configs():
    assert lle.models.available() == options("model")
    assert "gladnet" in lle.models.available()


def test_classical_methods_share_one_base(tmp_path):
    for name in ("gamma", "he", "clahe", "dong2011", "lime"):
        model = compose_config("train", [f"model={name}"], tmp_path).model
        assert model.optimizer is None and model.net.adapter.kind == "development"
        assert model.net.network.startswith("lle.models.classical.")


def test_each_model_brings_its_official_loss_and_loss_overrides_it(tmp_path):
    assert compose_config("train", ["model=gladnet"], tmp_path).loss._target_ == "lle.losses.RGBWeightedL1"
    assert compose_config("train", ["model=gladnet", "loss=l1"], tmp_path).loss._target_ == "lle.losses.L1Loss"


@pytest.mark.parametrize(
    "group, known",
    [
        ("model", "gladnet"),
        ("data", "lol_v2_real"),
        ("loss", "charbonnier"),
        ("trainer", "ddp_cpu"),
        ("logger", "wandb"),
        ("hydra/launcher", "joblib"),
    ],
)
def test_unknown_choice_lists_the_valid_ones(group, known, tmp_path):
    with pytest.raises((MissingConfigException, ConfigCompositionException)) as err:
        compose_config("train", [f"{group}=no_such_option"], tmp_path)
    assert known in str(err.value)


def test_unknown_model_name_in_python_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"available models: .*gladnet"):
        lle.models.build("no_such_net")


def test_folders_preset_requires_the_four_folders(tmp_path):
    cfg = compose_config("train", ["data=folders"], tmp_path)
    with pytest.raises(Exception, match="train_low"):
        instantiate(cfg.data)


def test_trainer_presets(tmp_path):
    ddp_cpu = compose_config("train", ["trainer=ddp_cpu"], tmp_path).trainer
    assert (ddp_cpu.accelerator, ddp_cpu.devices, ddp_cpu.strategy) == ("cpu", 2, "ddp")
    assert compose_config("train", [], tmp_path).trainer.use_distributed_sampler is False


def test_training_references_follow_the_exposure_the_network_normalises_to(tmp_path):
    default = compose_config("train", [], tmp_path)
    assert default.model.net._target_ == "lle.models.exposure.ExposureNormalized"
    assert default.data.reference_exposure == default.model.net.exposure == 0.3
    brighter = compose_config("train", ["model.net.exposure=0.18"], tmp_path)
    assert brighter.data.reference_exposure == 0.18
    # A network without exposure normalisation (every official recipe) trains on references as photographed.
    for name in ("gladnet", "mirnet_v2", "alen", "gamma"):
        assert compose_config("train", [f"model={name}"], tmp_path).data.reference_exposure is None
