"""Import-direction check: dependencies point one way (service -> ralis <- training -> model).

`ralis/` (the bundle contract, the frame layout and the client package `ralis/client/`) stays
torch-free and imports nothing above it; `service/` never imports the client (`ralis.client`),
and the rest of `ralis/` does not depend on it either.

Walks the AST of every module (imports inside functions and `importlib.import_module("...")`
with a literal name included) and fails when a package imports something it must not:
the service image has no torch and no training code, and the model stays free of I/O layers.
`python .ci/check_imports.py [ROOT]` checks ROOT (default: the repository);
`--self-test` plants one violation per rule in a scratch tree and fails unless each is caught.
"""

from __future__ import annotations

import ast
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Training-only third-party packages (the `train` extra): absent from the service image.
TRAINING_ONLY = frozenset({"torch", "onnx", "onnxscript", "matplotlib", "tqdm"})

# package -> top-level modules it must never import
FORBIDDEN: dict[str, frozenset[str]] = {
    "service": frozenset({"model", "training"}) | TRAINING_ONLY,
    "ralis": frozenset({"model", "training", "service"}) | TRAINING_ONLY,
    "model": frozenset({"training", "service"}),
}

# package -> (module prefix it must never import, files under it exempt from that rule)
FORBIDDEN_MODULES: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    # The server speaks the protocol; client code (SDK, replay, DSADS reader) is not its code.
    # make_recording.py is an offline tool that regenerates the live page's recording from
    # the DSADS zip with the client's reader; it is not a module of the server package.
    "service": (("ralis.client", frozenset({"service/ui/make_recording.py"})),),
    # The shared contracts (bundle, frames) sit below the client; `ralis.cli` reaches
    # `ralis.client.replay` only through its lazy table of module names.
    "ralis": (("ralis.client", frozenset({"ralis/client"})),),
}


@dataclass(frozen=True)
class Violation:
    """One forbidden import."""

    path: Path
    line: int
    imported: str
    package: str

    def __str__(self) -> str:
        top = self.imported.split(".")[0]
        return f"{self.path}:{self.line}: {self.package}/ must not import '{self.imported}' ({top})"


def _module_parts(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _resolve_relative(node: ast.ImportFrom, path: Path, root: Path) -> str:
    """Absolute name of `from ..x import y`, so relative imports cannot slip past the check."""
    package = _module_parts(path, root)
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, *([node.module] if node.module else [])])


def imported_names(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """Yield (line, absolute module name) for each import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = _resolve_relative(node, path, root) if node.level else (node.module or "")
            yield node.lineno, module
            for alias in node.names:  # `from ralis import client` imports ralis.client
                yield node.lineno, f"{module}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and _is_dynamic_import(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def _is_dynamic_import(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id in {"__import__", "import_module"}


def _forbidden_module(package: str, relative: Path, name: str) -> bool:
    """True when `name` falls under one of the package's forbidden module prefixes."""
    for prefix, exempt in FORBIDDEN_MODULES.get(package, ()):
        if name != prefix and not name.startswith(prefix + "."):
            continue
        places = {relative.as_posix(), *(parent.as_posix() for parent in relative.parents)}
        if not places & exempt:
            return True
    return False


def check(root: Path) -> list[Violation]:
    """All forbidden imports under root."""
    violations = []
    for package, forbidden in FORBIDDEN.items():
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            reported: set[int] = set()  # one violation per import statement
            for line, name in imported_names(path, root):
                if line in reported:
                    continue
                if name.split(".")[0] in forbidden or _forbidden_module(package, relative, name):
                    violations.append(Violation(relative, line, name, package))
                    reported.add(line)
    return violations


def self_test() -> list[str]:
    """Plant one violation per kind and return the kinds the check missed."""
    planted = {
        "service/a.py": "import torch\n",
        "service/sub/b.py": "from ...model import network\n",
        "service/c.py": "def f():\n    from training.data import x\n",
        "service/d.py": "import importlib\nimportlib.import_module('onnx')\n",
        "model/e.py": "from training import loop\n",
        "ralis/f.py": "from service import app\n",
        "ralis/client/g.py": "import torch\n",
        "ralis/client/h.py": "from service.frames import decode_frame\n",
        "service/i.py": "from ralis.client import StreamClient\n",
        "service/sub/j.py": "def f():\n    import ralis.client.dsads\n",
        "ralis/k.py": "from ralis.client.dsads import ACTIVITIES\n",
        "service/l.py": "from ralis import client\n",
    }
    allowed = {
        "service/ok.py": "import numpy\nfrom ralis.bundle import Manifest\nfrom . import x\n",
        "service/frames_ok.py": "from ralis.frames import SampleChunk\nimport ralis.clients_x\n",
        "service/ui/make_recording.py": "from ralis.client.dsads import read_recording\n",
        "ralis/client/ok.py": "import httpx\nfrom ralis.client import dsads\nfrom ralis import x\n",
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for relative, source in {**planted, **allowed}.items():
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / relative).write_text(source, encoding="utf-8")
        caught = {str(v.path) for v in check(root)}
    missed = [f"missed violation in {name}" for name in planted if name not in caught]
    wrong = [f"false alarm in {name}" for name in allowed if name in caught]
    return missed + wrong


def main(argv: list[str]) -> int:
    """Run the check (or its self-test) and report."""
    if argv[:1] == ["--self-test"]:
        problems = self_test()
        for problem in problems:
            sys.stderr.write(f"check_imports self-test: {problem}\n")
        if not problems:
            sys.stdout.write("check_imports self-test: every planted violation caught\n")
        return 1 if problems else 0
    root = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    violations = check(root)
    for violation in violations:
        sys.stderr.write(f"{violation}\n")
    checked = sum(len(list((root / p).rglob("*.py"))) for p in FORBIDDEN)
    if violations:
        sys.stderr.write(f"import direction: {len(violations)} forbidden import(s)\n")
        return 1
    sys.stdout.write(f"import direction: ok ({checked} files in {', '.join(FORBIDDEN)})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
