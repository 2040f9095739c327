"""What the OpenAPI document says, the server does (the fuzzer's findings, one by one): a 405
names every method of its path in `Allow`; a JSON body FastAPI cannot parse is a 422 like any
other malformed body; a version written `2.0` is the integer 2 (JSON Schema's `integer`); names,
aliases, uploads, config patches and bulk forms are described with what the server requires;
each create links to the routes taking its id."""

import re


async def test_a_405_lists_every_method_of_its_path(api):
    answer = await api.options("/v1/jobs/01M8KKK68CF6ZQMY55EB8Q8KGR")
    assert answer.status_code == 405 and answer.headers["allow"] == "DELETE, GET"
    answer = await api.request("PATCH", "/v1/models/digits/aliases/stable")
    assert answer.status_code == 405 and answer.headers["allow"] == "DELETE, PUT"


async def test_a_body_fastapi_cannot_parse_is_a_422(api):
    answer = await api.post("/v1/keys", content=b"\xff{", headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"]["loc"] == ["body"], answer.text


async def test_a_whole_number_with_a_fraction_part_is_an_integer(api):
    answer = await api.put("/v1/models/digits/aliases/stable", json={"version": 2.0})
    assert answer.status_code == 200 and answer.json()["version"] == 2, answer.text
    for bad in (2.5, "2", True):
        answer = await api.put("/v1/models/digits/aliases/stable", json={"version": bad})
        assert answer.status_code == 422, (bad, answer.text)


async def test_the_document_states_what_the_server_requires(api):
    document = (await api.get("/openapi.json")).json()
    paths, schemas = document["paths"], document["components"]["schemas"]
    alias = next(
        p for p in paths["/v1/models/{name}/aliases/{alias}"]["put"]["parameters"] if p["name"] == "alias"
    )
    assert re.match(alias["schema"]["pattern"], "stable") and not re.match(alias["schema"]["pattern"], "-")
    assert alias["schema"]["not"] == {"enum": ["latest"]}
    version = schemas["JobCreate"]["properties"]["version"]["anyOf"]
    assert not any(re.match(v.get("pattern", "^$"), "347326.0") for v in version if v.get("type") == "string")

    upload = paths["/v1/models/{name}/versions"]["post"]["requestBody"]
    assert upload["required"] and upload["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    patch = paths["/v1/models/{name}/versions/{version}/config"]["patch"]["requestBody"]
    assert patch["required"] and schemas["ConfigPatch"]["additionalProperties"] is False
    form = paths["/v1/bulk-jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["model", "file"] and "path" not in form["properties"]  # no input dirs

    links = paths["/v1/jobs"]["post"]["responses"]["202"]["links"]
    assert links["GetJob"]["parameters"] == {"job_id": "$response.body#/id"}
    assert links["GetJob"]["operationId"] == paths["/v1/jobs/{job_id}"]["get"]["operationId"]
    assert "links" in paths["/v1/bulk-jobs"]["post"]["responses"]["202"]
