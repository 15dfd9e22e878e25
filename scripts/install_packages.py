"""Installs the project and its test tools into the running venv (`make install` calls it).

uv installs the same pinned wheels as pip in well under half the time (it unpacks and
byte-compiles in parallel; TensorFlow & co. dominate a fresh clone's set-up), but it reads no
pip configuration: this machine's find-links, constraints and indexes are handed on to it from
`pip config list`. If uv is missing or fails, pip installs as before.
"""

import shlex
import subprocess
import sys

PACKAGES = ["-e", ".[test]"]

# pip's config keys -> uv's options (a key may hold several space-separated values).
UV_OPTIONS = {"find-links": "--find-links", "constraint": "--constraint",
              "index-url": "--index-url", "extra-index-url": "--extra-index-url"}


def has_pip(python: str) -> bool:
    return subprocess.run([python, "-m", "pip", "--version"], capture_output=True,
                          check=False).returncode == 0


def pip_config() -> dict[str, list[str]]:
    """`pip config list` as {key: values}; env settings (`:env:.key`) override files. A venv
    made without pip reads them through the Python it was made from (the same files)."""
    python = sys.executable if has_pip(sys.executable) else sys._base_executable
    listing = subprocess.run([python, "-m", "pip", "config", "list"],
                             capture_output=True, text=True, check=False).stdout
    found: dict[str, list[str]] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("=")
        key = name.rsplit(".", 1)[-1]
        if key in UV_OPTIONS and value:
            found[key] = shlex.split(shlex.split(value)[0])
    return found


def uv_command() -> list[str]:
    # unsafe-best-match: the newest allowed version across all indexes, as pip picks (uv's
    # default takes a package from the first index that has it, an older PySide6 here).
    command = ["-m", "uv", "pip", "install", "--quiet", "--compile-bytecode",
               "--index-strategy", "unsafe-best-match", "--python", sys.executable]
    for key, values in pip_config().items():
        for value in values:
            command += [UV_OPTIONS[key], value]
    return command + PACKAGES


def run(*args: str, quiet: bool = False) -> bool:
    """``python ARGS`` in the venv; True when it succeeds."""
    return subprocess.run([sys.executable, *args], capture_output=quiet,
                          check=False).returncode == 0


def main() -> int:
    """uv if the venv has it (the Makefile asks the system's pip for it); else the venv's own
    pip (made by ensurepip in a venv made without one) installs uv, or everything."""
    has_uv = run("-m", "uv", "--version", quiet=True) or (
        ensure_pip() and run("-m", "pip", "install", "--quiet", "uv"))
    if has_uv and run(*uv_command()):
        return 0
    print("uv could not install the packages; installing with pip instead", file=sys.stderr)
    return 0 if ensure_pip() and run("-m", "pip", "install", "--quiet", *PACKAGES) else 1


def ensure_pip() -> bool:
    """The venv's own pip, made by ensurepip in a venv made without one."""
    return has_pip(sys.executable) or run("-m", "ensurepip", "--default-pip")


if __name__ == "__main__":
    sys.exit(main())
