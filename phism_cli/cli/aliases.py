"""Old spellings of renamed options, kept working but out of the help: one name per concept
(components, endmembers, labels, library, learning rate) without breaking users' scripts."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from copy import copy
from typing import Annotated, Any

from typer.models import OptionInfo


def with_aliases(**aliases: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`@with_aliases(lr="--lr")` adds a hidden option `--lr` that sets the command's
    parameter `lr`... named by the keyword; its type and checks are the parameter's own."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command, eval_str=True)
        hidden = []
        for target, flag in aliases.items():
            parameter = signature.parameters[target]
            kind, info = typing.get_args(parameter.annotation)[:2]
            assert isinstance(info, OptionInfo), f"{target} is not an option"
            old = copy(info)
            old.param_decls, old.hidden, old.show_default = (flag,), True, False
            hidden.append(inspect.Parameter(
                _alias_name(target), inspect.Parameter.KEYWORD_ONLY, default=None,
                annotation=Annotated[kind | None, old]))

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for target in aliases:
                value = kwargs.pop(_alias_name(target), None)
                if value is not None:
                    kwargs[target] = value
            return command(*args, **kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  for p in signature.parameters.values()]
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=params + hidden)
        return wrapper

    return decorate


def _alias_name(target: str) -> str:
    return f"{target}__old_spelling"
