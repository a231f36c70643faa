"""An executed notebook made fit to leave the machine, before it becomes a report or is saved.

papermill writes the parameters into the notebook three times (an injected code cell, the
notebook's papermill metadata, and the input and output paths), and outputs can quote a
path (a warning, an error, a table column). A report is mailed around, so none of these may
carry an absolute path: parameters that name files are shown as cachecast._shown_paths
shows them (relative to the project or the config's folder, `~`, "a temporary build"), and
every other text is scrubbed of paths under the project, a temporary folder or the home
folder. Binary outputs (PNG, JPEG) are left alone: their base64 is not text.

The saved notebook is a record of what ran, not something to re-run as it is: re-running
takes the original parameters (`cachecast report -p ...`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .._shown_paths import scrub, shown_path
from .provenance import shown_value

INJECTED = "injected-parameters"


def config_dir(params: Mapping[str, Any]) -> Path | None:
    """The folder of the run config, when the notebook takes one (paths outside the project
    are shown relative to it)."""
    from .._shown_paths import locate

    config = params.get("config")
    if type(config) is not str or not config:
        return None
    return Path(locate(config)).absolute().parent


def make_shareable(nb: Any, params: Mapping[str, Any]) -> Any:
    """`nb` (an nbformat NotebookNode, changed in place and returned) without absolute paths."""
    folder = config_dir(params)
    shown = {k: shown_value(k, v, folder) for k, v in params.items()}
    meta = nb.metadata.get("papermill")
    if meta is not None:
        if "parameters" in meta:
            meta["parameters"] = shown
        for key in ("input_path", "output_path"):
            if meta.get(key):
                meta[key] = shown_path(meta[key], config_dir=folder)
    for cell in nb.cells:
        if INJECTED in cell.get("metadata", {}).get("tags", []):
            cell.source = _injected_source(shown)
        else:
            cell.source = scrub(cell.source, config_dir=folder)
        for output in cell.get("outputs", []):
            _scrub_output(output, folder)
    return nb


def _injected_source(params: Mapping[str, Any]) -> str:
    from papermill.translators import translate_parameters

    return translate_parameters("python3", "python", dict(params), "Parameters")


def _scrub_output(output: Any, folder: Path | None) -> None:
    if "text" in output:
        output["text"] = _scrub(output["text"], folder)
    for key in ("evalue", "traceback"):
        if key in output:
            output[key] = _scrub(output[key], folder)
    data = output.get("data", {})
    for mime in list(data):
        if mime.startswith("image/") and mime != "image/svg+xml":
            continue  # base64 of binary images
        data[mime] = _scrub(data[mime], folder)


def _scrub(value: Any, folder: Path | None) -> Any:
    """`scrub` over every string of a JSON-like value."""
    if isinstance(value, str):
        return scrub(value, config_dir=folder)
    if isinstance(value, list):
        return [_scrub(v, folder) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, folder) for k, v in value.items()}
    return value
