"""TrainingConfig on the command line, both ways, from its fields' :class:`Setting`.

``add_config_options`` gives the ``train`` command one option per field; ``config_arguments``
gives the arguments that reproduce a config through those options (the window's training child
is started with them). Being built from the same declarations, they cannot drift apart.
"""

from __future__ import annotations

import argparse

from training.protocol.config import Setting, TrainingConfig, settings_of


def add_config_options(parser: argparse.ArgumentParser, config_class=TrainingConfig) -> None:
    """One option per field of ``config_class``, its destination the field's name."""
    for name, declared in settings_of(config_class):
        text = declared.help
        if declared.kind in ("int", "float"):  # the range validate() checks, said up front
            text = "; ".join(filter(None, (text, declared.allowed())))
        parser.add_argument(*declared.flags, dest=name, **_argparse_kind(declared),
                            help=text.replace("%", "%%") or None)  # argparse formats with %


def _argparse_kind(declared: Setting) -> dict:
    if declared.kind == "choice":
        return {"choices": list(declared.choices)}
    if declared.kind == "bool":
        return {"action": argparse.BooleanOptionalAction}
    if declared.kind == "int":
        return {"type": int}
    if declared.kind == "float":
        return {"type": float}
    return {}  # a path: the text as given


def config_arguments(config: TrainingConfig) -> list[str]:
    """The options that reproduce ``config`` exactly (floats with full precision); a path that
    is None (no data folder) is left out: None is its default."""
    args: list[str] = []
    for name, declared in settings_of(type(config)):
        value, flag = getattr(config, name), declared.flags[0]
        if value is None:
            continue
        if declared.kind == "bool":
            args.append(flag if value else "--no-" + flag.removeprefix("--"))
        elif declared.kind == "float":
            args += [flag, repr(float(value))]
        else:
            args += [flag, str(value)]
    return args
