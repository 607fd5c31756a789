"""The `ralis` command. Subcommands are imported lazily so `ralis serve` runs without torch."""

from __future__ import annotations

import importlib
import sys

# subcommand -> (module, function taking argv, one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "serve": ("service.cli", "main", "run the inference service"),
    "replay": ("ralis.client.replay", "main", "stream real DSADS recordings to a running service"),
    "train": ("training.cli", "train_main", "train a model"),
    "evaluate": ("training.cli", "evaluate_main", "evaluate a checkpoint over view subsets"),
    "export": ("training.cli", "export_main", "export a checkpoint as an ONNX model bundle"),
}


def _usage() -> str:
    lines = ["usage: ralis <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {help_}" for name, (_, _, help_) in _COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a subcommand."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help"}:
        sys.stdout.write(_usage() + "\n")
        return 0
    name, rest = args[0], args[1:]
    if name not in _COMMANDS:
        sys.stderr.write(f"unknown command '{name}'; known: {', '.join(_COMMANDS)}\n")
        return 2
    module_name, func_name, _ = _COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        fix = (
            "install the training extra: pip install -e '.[train]'"
            if module_name.startswith("training.")
            else "reinstall RALIS: pip install -e ."
        )
        sys.stderr.write(f"'ralis {name}' needs '{exc.name}', which is not installed; {fix}\n")
        return 2
    result = getattr(module, func_name)(rest)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
