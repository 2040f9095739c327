"""Logging set up once per entry point; library modules only call getLogger(__name__).

`text` (the default, for a terminal): one readable line per record, its fields appended as
key=value. `json` (MAAS_LOG_FORMAT=json): one JSON object per line with ts, level, logger, pid,
msg, the record's fields (maas.core.log_fields.FIELDS) and exc, for a log collector."""

import logging
import time

import orjson

from maas.core.log_fields import FIELDS, REQUEST_ID

TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def _fields_of(record: logging.LogRecord) -> dict[str, object]:
    found = {name: getattr(record, name) for name in FIELDS if hasattr(record, name)}
    request_id = REQUEST_ID.get()
    if request_id is not None and "request_id" not in found:
        found["request_id"] = request_id
    return found


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
            **_fields_of(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _fields_of(record)
        return text + "".join(f" {k}={v}" for k, v in extra.items()) if extra else text


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.captureWarnings(True)  # a library's warning is a record too, not a bare stderr line
