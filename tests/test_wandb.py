"""logger=wandb in a sweep, offline: what `wandb sync` would upload is checked in the run's offline directory."""

import json
import struct
import sys
from pathlib import Path

import pytest
from PIL import Image
from wandb.proto import wandb_internal_pb2

from conftest import SMALL_GLADNET, TINY_RUN, TINY_SYNTHETIC
from test_cli import run_cli


def wandb_records(path: Path) -> list:
    """The records of a `.wandb` transaction log: a 7-byte W&B header, then LevelDB log blocks of 32 KiB whose
    chunks (7-byte header: CRC, length, type full/first/middle/last) hold serialized protobuf `Record`s."""
    data, records, pending, pos = path.read_bytes(), [], b"", 7
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        room = 32768 - pos % 32768
        if room < 7:  # block trailer
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:  # zero padding up to the end of a block
            pos += room - 7 - length
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def of_type(records: list, kind: str) -> list:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def final_summary(records: list) -> dict:
    summary = {}
    for record in of_type(records, "summary"):
        for item in record.update:
            summary["/".join(item.nested_key) if item.nested_key else item.key] = json.loads(item.value_json)
    return summary


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wandb")
    env = {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_CONFIG_DIR": root / "config",
        "WANDB_CACHE_DIR": root / "cache",
        "WANDB_DATA_DIR": root / "data",
        "NETRC": root / "no-netrc",
        "WANDB_BASE_URL": "http://127.0.0.1:9",
    }  # a refused port: any attempt to go online fails at once
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, str(value))
        patch.delenv("WANDB_API_KEY", raising=False)
        # Job 1 asks for crops larger than the photographs: it fails once its W&B run has started, which must
        # then end as failed; job 0's as finished.
        run_cli(
            [
                sys.executable,
                "-m",
                "lle.cli.train",
                "-m",
                "logger=wandb",
                *TINY_RUN,
                *TINY_SYNTHETIC,
                *SMALL_GLADNET,
                "data.crop_size=32,4096",
                f"hydra.sweep.dir={root / 'compare_gladnet'}",
            ],
            cwd=root,
        )
    return root / "compare_gladnet"


def offline_run(job: Path) -> Path:
    runs = list((job / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, runs  # offline, and one W&B run per job
    return runs[0]


def test_run_is_grouped_by_sweep_and_tagged(sweep):
    for job in ("0_gladnet", "1_gladnet"):
        (run,) = of_type(wandb_records(next(offline_run(sweep / job).glob("run-*.wandb"))), "run")
        assert run.run_group == "compare_gladnet"  # the sweep directory's name, not its path
        assert {"gladnet", "synthetic"} <= set(run.tags)
        assert (run.project, run.display_name) == ("lle", "gladnet_synthetic")


def test_run_carries_config_summary_and_images(sweep):
    job = sweep / "0_gladnet"
    metrics = json.loads((job / "metrics.json").read_text())
    run_dir = offline_run(job)
    records = wandb_records(next(run_dir.glob("run-*.wandb")))

    config = {item.key: json.loads(item.value_json) for record in of_type(records, "config") for item in record.update}
    assert config["model"]["net"]["network"] == "lle.models.gladnet.GLADNet"  # built by lle.models.adapters.adapted
    assert config["model"]["net"]["global_channels"] == 8 and config["data"]["crop_size"] == 32  # resolved
    assert config["params"] == metrics["params"]

    summary = final_summary(records)
    for key in ("test/psnr", "test/ssim", "test/psnr_gtmean", "val/psnr_best", "params", "status", "choice/model"):
        assert summary[key] == metrics[key], key
    assert summary["protocol/ssim"] == metrics["protocol/ssim"]

    (table_file,) = run_dir.glob("files/media/table/final_metrics_*.table.json")
    table = json.loads(table_file.read_text())
    assert dict(zip(table["columns"], table["data"][0]))["test/psnr"] == metrics["test/psnr"]

    grids = list(run_dir.glob("files/media/images/val/*.png"))
    assert grids and summary["val/images/filenames"][0] == grids[0].relative_to(run_dir / "files").as_posix()
    with Image.open(grids[0]) as logged, Image.open(next((job / "images" / "val").glob("epoch_*.png"))) as saved:
        assert logged.size == saved.size  # the grid ImageGridLogger saved is the one sent to W&B


def test_failed_job_ends_its_wandb_run_as_failed(sweep):
    exit_codes = {}
    for job in ("0_gladnet", "1_gladnet"):
        (record,) = of_type(wandb_records(next(offline_run(sweep / job).glob("run-*.wandb"))), "exit")
        exit_codes[job] = record.exit_code
    assert exit_codes == {"0_gladnet": 0, "1_gladnet": 1}
    assert json.loads((sweep / "1_gladnet" / "metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize(
    "api_key, netrc_host, mode, offline",
    [
        (None, None, None, True),  # no credentials: written offline for `wandb sync`
        (None, "api.wandb.ai", None, False),  # after `wandb login`
        ("0123456789abcdef", None, None, False),  # WANDB_API_KEY
        ("0123456789abcdef", None, "offline", True),  # the user asked for offline
    ],
)
def test_wandb_goes_offline_exactly_when_there_are_no_credentials(
    api_key, netrc_host, mode, offline, tmp_path, monkeypatch
):
    from conftest import compose_config

    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {netrc_host} login user password secret\n" if netrc_host else "")
    monkeypatch.setenv("NETRC", str(netrc))
    for key, value in (("WANDB_API_KEY", api_key), ("WANDB_MODE", mode)):
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    cfg = compose_config("train", ["logger=wandb"], tmp_path / "run")
    assert cfg.logger.wandb.offline is offline


def test_a_resumed_run_logs_into_the_same_wandb_run(sweep, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(sweep / "0_gladnet", run)  # a copy: the sweep's own job keeps exactly one W&B run
    first_id = offline_run(run).name.rsplit("-", 1)[1]
    env = {
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "NETRC": str(tmp_path / "no-netrc"),
        "WANDB_CONFIG_DIR": str(tmp_path / "config"),
        "WANDB_BASE_URL": "http://127.0.0.1:9",
    }
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("WANDB_API_KEY", raising=False)
        run_cli(
            [
                sys.executable,
                "-m",
                "lle.cli.train",
                "logger=wandb",
                *TINY_RUN,
                *TINY_SYNTHETIC,
                *SMALL_GLADNET,
                "trainer.max_epochs=2",
                f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
                f"hydra.run.dir={run}",
            ],
            cwd=tmp_path,
        )
    runs = sorted((run / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and {r.name.rsplit("-", 1)[1] for r in runs} == {first_id}
