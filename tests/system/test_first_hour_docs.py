"""`/docs` works offline: Swagger UI's page names only same-origin assets, and the API serves them."""

import re


async def test_docs_page_loads_swagger_ui_from_the_api_itself(api):
    client = api  # the app with its lifespan, over ASGI
    page = await client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    assert "openapi.json" in page.text and "cdn" not in page.text.lower()
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not same-origin"
        answer = await client.get(asset)
        assert answer.status_code == 200, asset
        if asset.endswith(".js"):
            assert "javascript" in answer.headers["content-type"] and len(answer.content) > 100_000
        if asset.endswith(".css"):
            assert answer.headers["content-type"].startswith("text/css")
    assert (await client.get("/openapi.json")).status_code == 200
