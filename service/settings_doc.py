"""The configuration reference, `docs/configuration.md`, rendered from `Settings.model_fields`.

Regenerate it after changing a setting: `python -m service.settings_doc > docs/configuration.md`.
`tests/docs/test_docs.py` fails while the file differs from what this module renders.
"""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from service.settings import Settings

__all__ = ["main", "render"]

PREFIX = "TESSERA_"
DELIMITER = "__"

INTRO = """\
# Configuration

<!-- Generated from service.settings.Settings by `python -m service.settings_doc > docs/configuration.md`.
     Edit the field descriptions in service/settings.py, then regenerate; a test checks this file. -->

Every setting is an environment variable named `TESSERA_<NAME>`, or a `NAME=value` line in a `.env`
file in the working directory. Environment variables win over `.env`. Lists and mappings are
written as JSON, for example `TESSERA_API_KEYS='{"a-long-secret-key": "tenant-a"}'`. Nested
settings are set one field at a time with a double underscore, for example
`TESSERA_LLM__BACKEND=openai` or `TESSERA_MEMORY__WINDOW=8`.

Index hyper-parameters are not settings: each collection carries its own index configs (see
[Index kinds](kinds/index.md)).

This page is generated from `service.settings.Settings`. Regenerate it after changing a setting:

```bash
.venv/bin/python -m service.settings_doc > docs/configuration.md
```
"""


def _type_name(annotation: Any) -> str:
    """A readable type without Markdown table pipes: `str or None`, `one of "a", "b"`."""
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(json.dumps(arg) for arg in args)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    if annotation is type(None):
        return "None"
    if isinstance(annotation, type):
        return "path" if issubclass(annotation, Path) else annotation.__name__
    return str(annotation)


def _bounds(field: FieldInfo) -> list[str]:
    """The field's numeric and length constraints, e.g. `≥ 1`, `length ≤ 64`."""
    bounds = []
    for item in field.metadata:
        if isinstance(item, Ge):
            bounds.append(f"≥ {item.ge}")
        elif isinstance(item, Gt):
            bounds.append(f"> {item.gt}")
        elif isinstance(item, Le):
            bounds.append(f"≤ {item.le}")
        elif isinstance(item, Lt):
            bounds.append(f"< {item.lt}")
        elif isinstance(item, MinLen):
            bounds.append(f"length ≥ {item.min_length}")
        elif isinstance(item, MaxLen):
            bounds.append(f"length ≤ {item.max_length}")
    return bounds


def _value(value: Any) -> str:
    """A default as the text one would set; paths under the home folder start with `~`."""
    if value is None:
        return "unset"
    if isinstance(value, Path):
        home = Path.home()
        text = f"~/{value.relative_to(home)}" if value.is_relative_to(home) else str(value)
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    elif isinstance(value, str):
        text = value or '""'
    else:
        text = json.dumps(value)
    return f"`{text}`"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _rows(model: type[BaseModel], env: str, instance: BaseModel | None) -> Iterator[str]:
    """One table row per field of `model`, with defaults taken from `instance` when given.

    A field holding a model is flattened into that model's fields (`TESSERA_MEMORY__ENCODER__MODEL`)
    when `instance` is given, and left out at the top level (where it gets a section of its own).
    """
    for name, field in model.model_fields.items():
        variable = f"{env}{name.upper()}"
        if instance is None:
            default = field.get_default(call_default_factory=True)
        else:
            default = getattr(instance, name)
        if isinstance(default, BaseModel):
            if instance is not None:
                yield from _rows(type(default), variable + DELIMITER, default)
            continue
        kind = _type_name(field.annotation)
        bounds = _bounds(field)
        kind = f"{kind} ({', '.join(bounds)})" if bounds else kind
        cells = [f"`{variable}`", kind, _value(default), field.description or ""]
        yield "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _table(model: type[BaseModel], env: str, instance: BaseModel | None) -> str:
    header = "| variable | type | default | description |\n|---|---|---|---|\n"
    return header + "\n".join(_rows(model, env, instance)) + "\n"


def render() -> str:
    """The whole `docs/configuration.md`: the service's fields, then one section per nested model."""
    parts = [INTRO, "## Service\n\n" + _table(Settings, PREFIX, None)]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if not isinstance(default, BaseModel):
            continue
        nested = type(default)
        variable = f"{PREFIX}{name.upper()}"
        summary = (nested.__doc__ or "").strip().splitlines()[0]
        parts.append(
            f"## `{variable}{DELIMITER}*`\n\n{summary}\n\n"
            f"`{variable}`: {_cell(field.description or '')}. "
            f"The whole object may also be given as JSON in `{variable}`.\n\n"
            + _table(nested, variable + DELIMITER, default)
        )
    return "\n".join(parts)


def main() -> int:
    """Write the rendering to standard output."""
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
