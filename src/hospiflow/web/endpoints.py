"""What every API blueprint does the same way: parameters given once, a query schema
or none at all, a JSON object body, and a time limit on the store's work.

``api``, ``forecast_api`` and ``sites_api`` register ``refuse_repeated_parameters``
and use these decorators, so a request is refused with the same message
wherever it goes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from apiflask import APIBlueprint
from flask import current_app, request
from marshmallow import RAISE

from hospiflow.errors import HospiflowError
from hospiflow.store.engine import time_limit
from hospiflow.web.context import get_db
from hospiflow.web.timeutil import BadRequest

if TYPE_CHECKING:
    from apiflask.types import DecoratedType, ResponsesType

T = TypeVar("T")

Responses = Mapping[int, str | Mapping[str, Any]]
"""Per status: a description (4xx/5xx then get the error schema) or a response object."""


class Blueprint(APIBlueprint):
    """An ``APIBlueprint`` whose ``doc`` is typed for the ``responses`` APIFlask accepts.

    APIFlask reads each status of ``responses`` on its own (a string is a
    description, a dict a response object), but its type hint wants one kind
    per dict: this is the one place that says the two mix.
    """

    # override: narrower than APIFlask's in one way, no "2XX"-style string keys
    # (unused here); a union with APIFlask's own type defeats mypy's inference
    # of the dict literals at every call site.
    def doc(  # type: ignore[override]
        self,
        summary: str | None = None,
        description: str | None = None,
        tags: list[str] | None = None,
        responses: Responses | list[int] | None = None,
        deprecated: bool | None = None,
        hide: bool | None = None,
        operation_id: str | None = None,
        security: str | list[str | dict[str, list[Any]]] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> Callable[[DecoratedType], DecoratedType]:
        return super().doc(
            summary,
            description,
            tags,
            cast("ResponsesType | None", responses),
            deprecated,
            hide,
            operation_id,
            security,
            extensions,
        )


class BadJson(HospiflowError):
    """The body is not a JSON object."""

    code = "bad_json"
    http_status = 400


def refuse_repeated_parameters() -> None:
    """``?a=1&a=2`` is ambiguous: refuse it (register with ``bp.before_request``)."""
    for name, values in request.args.lists():
        if len(values) > 1:
            raise BadRequest("is given more than once", where=name)


def query(bp: APIBlueprint, schema: type) -> Callable:
    """Validate the query string with ``schema`` (unknown parameters refused) into ``args``."""
    return bp.input(schema, location="query", arg_name="args", unknown=RAISE)


def no_query(view: Callable) -> Callable:
    """Refuse any query parameter on an endpoint that takes none."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.args:
            name = next(iter(request.args))
            raise BadRequest("is not a parameter of this endpoint", where=name)
        return view(*args, **kwargs)

    return wrapper


MAX_JSON_DEPTH = 16
"""Deepest nesting of a JSON body (the scenario structure needs 4)."""
MAX_JSON_ITEMS = 1_000
"""Most items in one JSON list or object (a roster of shifts is the longest, ~30)."""


def check_json_shape(value: Any, where: str = "body") -> None:
    """Refuse a body nested deeper or holding longer lists than any request needs.

    Checked before the body is validated field by field, which costs time per
    item: a 1M-value list took 13.5 s to refuse.
    """
    stack = [(value, 1, where)]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise BadJson(f"is nested more than {MAX_JSON_DEPTH} levels deep", where=path)
            if len(item) > MAX_JSON_ITEMS:
                raise BadJson(f"holds {len(item):,} items, at most {MAX_JSON_ITEMS:,}", where=path)
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            stack.extend((sub, depth + 1, f"{path}.{key}") for key, sub in pairs)


def json_object(view: Callable) -> Callable:
    """Refuse a body that is not a JSON object of a sane shape (before it is validated)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not request.is_json:
            raise BadJson("the body must be JSON (Content-Type: application/json)", where="body")
        try:
            body = current_app.json.loads(request.get_data(cache=True))
        except ValueError as error:  # includes a body nested past the parser's own limit
            message = str(error) if "nested" in str(error) else "the request body is not valid JSON"
            raise BadJson(message, where="body") from None
        if not isinstance(body, dict):
            raise BadJson("the request body is not a JSON object", where="body")
        check_json_shape(body)
        return view(*args, **kwargs)

    return wrapper


def limited(build: Callable[[], T]) -> T:
    """Run ``build`` under the store's query time limit (``QUERY_SECONDS``)."""
    with time_limit(get_db(), current_app.config["QUERY_SECONDS"]):
        return build()
