"""TrainingConfig is declared once (issue #21): the train command's options, the arguments the
window starts its training child with and the panel's form are all built from the fields'
declarations, so every field reaches each of them, and a new field needs one edit."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields, make_dataclass
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QSpinBox, QWidget

from desktop_app.learning.training_controller import train_arguments
from desktop_app.learning.training_panel import TrainingPanel
from training.cli.main import _parser
from training.cli.train_command import _train_config
from training.protocol.config import (
    ConfigError,
    TrainingConfig,
    form_settings,
    setting,
    settings_of,
)
from training.protocol.options import config_arguments

# Outside checks drive the CLI and the window by these names: they must never change.
FLAGS = {
    "dataset": ("--dataset",), "architecture": ("--architecture",),
    "optimizer": ("--optimizer",), "learning_rate": ("--lr", "--learning-rate"),
    "lr_schedule": ("--lr-schedule",), "epochs": ("--epochs",), "batch_size": ("--batch-size",),
    "validation_split": ("--validation-split",), "dropout": ("--dropout",),
    "augment": ("--augment", "--no-augment"), "precision": ("--precision",),
    "label_smoothing": ("--label-smoothing",), "ema": ("--ema",),
    "weight_decay": ("--weight-decay",), "steps_per_execution": ("--steps-per-execution",),
    "jit_compile": ("--jit-compile",), "threads": ("--threads",),
    "seed": ("--seed",), "strategy": ("--strategy",), "data_dir": ("--data-dir",),
}
WIDGETS = {
    "dataset": "datasetField", "architecture": "architectureField",
    "optimizer": "optimizerField", "learning_rate": "learningRateField",
    "lr_schedule": "lrScheduleField", "epochs": "epochsField", "batch_size": "batchSizeField",
    "validation_split": "validationSplitField", "dropout": "dropoutField",
    "label_smoothing": "labelSmoothingField", "weight_decay": "weightDecayField",
    "augment": "augmentField", "precision": "precisionField", "seed": "seedField",
    "data_dir": "dataFolderField",
}


def differing_values(config_class=TrainingConfig) -> dict:
    """A valid config's fields, each different from its default and one the form can hold;
    made from the declarations, so a new field gets a value too."""
    defaults, values = config_class(), {}
    for name, declared in settings_of(config_class):
        default = getattr(defaults, name)
        if declared.kind == "choice":
            value = next(choice for choice in declared.choices if choice != default)
        elif declared.kind == "bool":
            value = not default
        elif declared.kind == "path":
            value = f"/somewhere/{name}"
        else:
            low, high = declared.form_range()
            value = low + 0.37 * (high - low)
            value = int(value) if declared.kind == "int" else round(value, declared.decimals or 4)
        assert value != default, name
        values[name] = value
    if "strategy" in values:  # a distribution strategy runs one batch per Keras call
        values["steps_per_execution"] = 1
    return values


def differing_config(config_class=TrainingConfig):
    return config_class(**differing_values(config_class)).validate()


def train_subparser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return commands.choices["train"]


def options_for(config) -> list[str]:
    """Command-line options for ``config``, built here from the declarations alone (the
    alias of a field with several flags, to check those too)."""
    args = []
    for name, declared in settings_of(type(config)):
        value, flag = getattr(config, name), declared.flags[-1]
        if declared.kind == "bool":
            args.append(flag if value else "--no-" + flag[2:])
        elif value is not None:
            args += [flag, value if isinstance(value, str) else repr(value)]
    return args


def shown_only(config_class, values: dict) -> dict:
    """``values`` with the fields the form does not show at their defaults."""
    shown = dict(form_settings(config_class))
    return {name: value if name in shown else getattr(config_class(), name)
            for name, value in values.items()}


@pytest.fixture
def panel(qtbot, app_settings):
    panel = TrainingPanel(app_settings)
    qtbot.addWidget(panel)
    return panel


def test_a_config_unlike_the_defaults_differs_in_every_field():
    config, defaults = differing_config(), TrainingConfig()
    assert all(getattr(config, f.name) != getattr(defaults, f.name) for f in fields(config))


# ---------------------------------------------------------------------------- (a), (b): CLI
def test_the_cli_parser_gives_a_config_back():
    config = differing_config()
    args = _parser().parse_args(["train", *options_for(config), "--out", "m.keras"])
    assert _train_config(args) == config


def test_the_training_childs_arguments_give_the_config_back():
    config = differing_config()
    args = _parser().parse_args(train_arguments(config, Path("out.keras")))
    assert _train_config(args) == config
    assert (args.out, args.progress) == ("out.keras", "json")
    # with no data folder, none is passed and the child uses the default one
    plain = TrainingConfig()
    assert "--data-dir" not in train_arguments(plain, Path("o.keras"))
    assert _train_config(_parser().parse_args(train_arguments(plain, Path("o.keras")))) == plain


# ---------------------------------------------------------------------------- (c): the form
def test_the_panel_gives_a_config_back(panel):
    values = differing_values()
    panel.set_config(values)
    assert panel.config().to_dict() == shown_only(TrainingConfig, values)
    for name, object_name in WIDGETS.items():  # each value is in the widget of that name
        widget = panel.findChild(QWidget, object_name)
        assert widget is not None, object_name
        assert panel.form.values()[name] == values[name]


def test_the_form_never_offers_what_validate_refuses(panel):
    for name, declared in form_settings():
        widget = panel.findChild(QWidget, declared.widget)
        if isinstance(widget, (QSpinBox, QDoubleSpinBox)):
            for end in (widget.minimum(), widget.maximum()):
                widget.setValue(end)
                panel.config().validate()
                assert getattr(panel.config(), name) == end


def test_validate_reads_the_declared_ranges():
    for name, declared in settings_of():
        if declared.kind in ("int", "float"):
            with pytest.raises(ConfigError, match=re.escape(f"invalid {name}: expected "
                                                            f"{declared.allowed()}")):
                TrainingConfig(**{name: declared.high + 1}).validate()
        elif declared.kind == "choice":
            with pytest.raises(ConfigError, match=f"invalid {name}: expected one of"):
                TrainingConfig(**{name: "no such thing"}).validate()


# ---------------------------------------------------------------------------- (d): every field
def test_every_field_reaches_the_parser_and_the_form(panel):
    train = train_subparser(_parser())
    options = {action.dest: tuple(action.option_strings) for action in train._actions}
    shown = dict(form_settings())
    for item in fields(TrainingConfig):
        declared = item.metadata["setting"]
        assert item.name in options, item.name
        if item.name in shown:
            widget = panel.findChild(QWidget, declared.widget)
            assert widget is not None and widget is getattr(panel, item.name), item.name
            assert panel.tabs.widget(0).isAncestorOf(widget)  # on the Settings tab
        else:
            assert declared.hidden_because, f"{item.name}: not in the form, and no reason"
    for name, flags in FLAGS.items():  # the names outside checks use stay as they were
        assert options[name] == flags, name
    for name, object_name in WIDGETS.items():
        assert dict(form_settings())[name].widget == object_name
    assert set(shown) == set(WIDGETS)  # ema, steps_per_execution, strategy: command line only


# ---------------------------------------------------------------------------- (e): one edit
Extended = make_dataclass("Extended", [(
    "mixup", float, setting(0.0, label="Mixup", kind="float", flags=("--mixup",), low=0,
                            high=1, decimals=2, step=0.1, help="blend pairs of pictures",
                            row=16, widget="mixupField"))], bases=(TrainingConfig,))


class ExtendedPanel(TrainingPanel):
    config_class = Extended


def test_a_field_declared_once_reaches_the_cli_the_child_and_the_form(qtbot, app_settings):
    config = differing_config(Extended)
    assert config.mixup != 0

    parser = _parser(Extended)
    assert train_subparser(parser).format_help().count("--mixup") >= 1
    parsed = parser.parse_args(["train", *options_for(config), "--out", "m.keras"])
    assert _train_config(parsed, Extended) == config
    assert _train_config(parser.parse_args(train_arguments(config, Path("o.keras"))),
                         Extended) == config
    assert "--mixup" in config_arguments(config)
    with pytest.raises(ConfigError, match="invalid mixup: expected a number in \\[0, 1\\]"):
        Extended(mixup=1.5).validate()

    panel = ExtendedPanel(app_settings)
    qtbot.addWidget(panel)
    spin = panel.findChild(QDoubleSpinBox, "mixupField")
    assert spin is not None and spin.toolTip() == "blend pairs of pictures"
    form = panel.tabs.widget(0).widget().layout().itemAt(0).layout()
    assert isinstance(form, QFormLayout) and form.labelForField(spin).text() == "Mixup"
    panel.set_config(config.to_dict())
    assert spin.value() == config.mixup
    assert panel.config().to_dict() == shown_only(Extended, config.to_dict())
