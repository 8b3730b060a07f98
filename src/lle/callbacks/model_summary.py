"""The model summary printed when training starts: Lightning's rich table, with lle's MAC count in place of
Lightning's FLOPs (which Lightning counts only on an `example_input_array`, so that they read 0 for lle's
modules)."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import RichModelSummary
from pytorch_lightning.utilities.model_summary import get_formatted_model_size, get_human_readable_count

from lle.models.complexity import MACS_SIZE, network_macs


class ModelSummary(RichModelSummary):
    """`RichModelSummary` without the FLOPs column and total, and with `MACs at 256×256` where they can be
    counted (`lle.models.complexity`, the figure `lle-report` shows)."""

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        net = getattr(pl_module, "net", None)
        self._summarize_kwargs["macs"] = network_macs(net) if net is not None and trainer.is_global_zero else None
        super().on_fit_start(trainer, pl_module)

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        from rich import get_console
        from rich.table import Table

        columns = [(name, values) for name, values in summary_data if name != "FLOPs"]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        table.add_column(" ", style="dim")
        for name, _ in columns[1:]:
            table.add_column(name, justify="right" if name.startswith("Params") else "left", no_wrap=name == "Name")
        for row in zip(*(values for _, values in columns)):
            table.add_row(*row)
        console = get_console()
        console.print(table)

        grid = Table.grid(expand=True)
        grid.add_column()
        grid.add_row(f"[bold]Trainable params[/]: {get_human_readable_count(int(trainable_parameters))}")
        grid.add_row(
            f"[bold]Non-trainable params[/]: {get_human_readable_count(total_parameters - trainable_parameters)}"
        )
        grid.add_row(f"[bold]Total params[/]: {get_human_readable_count(int(total_parameters))} ({total_parameters:,})")
        grid.add_row(f"[bold]Total estimated model params size (MB)[/]: {get_formatted_model_size(model_size)}")
        macs = summarize_kwargs.get("macs")
        if macs is not None:
            grid.add_row(f"[bold]MACs at {MACS_SIZE}×{MACS_SIZE}[/]: {get_human_readable_count(macs)} ({macs:,})")
        console.print(grid)
