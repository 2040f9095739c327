"""The OpenAPI document resolves: every `$ref` names a schema in its components (a body the
route reads itself, like POST /v1/jobs's, once pointed at an unresolvable `#/$defs/...`)."""

import json
import re

from tests.conftest import in_process_api


async def test_every_reference_in_the_openapi_document_resolves(settings, redis):
    async with in_process_api(settings) as api:
        document = (await api.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    unresolved = [
        r for r in refs if not r.startswith("#/components/schemas/") or r.rsplit("/", 1)[1] not in schemas
    ]
    assert refs and not unresolved, unresolved
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/JobCreate"}
    assert schemas["JobCreate"]["properties"]["webhook"]["anyOf"][0] == {
        "$ref": "#/components/schemas/WebhookCreate"
    }
