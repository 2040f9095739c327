"""JSON responses written by orjson, numpy arrays included (job outputs stay arrays until here)."""

from typing import Any

import orjson
from fastapi.responses import JSONResponse


class NumpyJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
