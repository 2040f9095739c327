"""Request bodies that routes read themselves (within size limits, before validating them),
described in the OpenAPI document as FastAPI describes a typed body: a `$ref` into
components/schemas, with every model they nest there too, so that each reference resolves."""

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from api.openapi_exact import make_exact

REF = "#/components/schemas/{model}"


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """The `openapi_extra` of a route that reads `model` as its JSON body."""
    schema = {"$ref": REF.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def add_request_schemas(app: FastAPI, models: Iterable[type[BaseModel]], server_paths: bool) -> None:
    """Adds `models`, and the models they nest, to the app's document when it is generated, then
    makes the document exact (api/openapi_exact.py)."""
    generate = app.openapi
    wanted = list(models)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = generate()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        for model in wanted:
            schema = model.model_json_schema(ref_template=REF)
            for name, nested in schema.pop("$defs", {}).items():
                components.setdefault(name, nested)
            components.setdefault(model.__name__, schema)
        app.openapi_schema = make_exact(document, server_paths)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
