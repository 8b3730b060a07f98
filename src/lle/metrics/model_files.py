"""Finding the data files that learned metrics need (NIQE's pristine model, LPIPS' weights).

These are data, not code: lle reads them from the user's own file, or from a file that a registry package
ships, located in site-packages *without importing the package* (`importlib.util.find_spec` of a top-level
package only locates it; the packages that ship these files pull in torchvision and more, and lle never runs
their code). The order: an explicit path, then the environment variable, then the installed package.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


class MissingModelFile(FileNotFoundError):
    """A metric's data file is nowhere to be found; the message says what to install or download."""


def package_file(package: str, relative: str) -> Path | None:
    """`<site-packages>/<package>/<relative>` if the top-level `package` is installed and ships it; never
    imports the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / relative
        if candidate.is_file():
            return candidate
    return None


def locate(what: str, path: str | Path | None, env: str, packaged: tuple[str, str] | None, how_to_get: str) -> Path:
    """The data file for `what`: `path`, else `$env`, else the packaged file; a clear error otherwise."""
    for source, given in (("argument", path), (f"${env}", os.environ.get(env) or None)):
        if given:
            given = Path(given).expanduser()
            if not given.is_file():
                raise MissingModelFile(f"{what}: {given} (from {source}) is not a file. {how_to_get}")
            return given
    if packaged is not None:
        found = package_file(*packaged)
        if found is not None:
            return found
    raise MissingModelFile(f"{what} not found. {how_to_get}")


def torch_hub_cached(url: str) -> Path:
    """Where torch's hub (and torchvision) caches the file of `url`."""
    from torch.hub import get_dir

    return Path(get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]


def locate_hub_file(what: str, url: str, path: str | Path | None, env: str, how_to_get: str) -> Path:
    """`path`, else `$env`, else the torch hub's cached copy of `url` when it is there; an error saying
    `how_to_get` when none is found."""
    cached = torch_hub_cached(url)
    if path is None and not os.environ.get(env) and cached.is_file():
        return cached
    return locate(what, path, env, None, how_to_get)
