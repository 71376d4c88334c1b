"""Log output: `plain` lines for people, or `json` (one object a line) for a log shipper.

A JSON line has `ts` (ISO 8601, UTC), `level`, `logger`, `message`, and `job_id` / `backend` where the record
is about one: taken from the record's `extra` when the code passed them, else from the argument that fills
`job %s` / `backend %s` in the message's format (pixflow's convention: `log.warning("job %s: ...", job_id)`),
so no module has to change how it logs and free text never passes for an id. A traceback goes in `exc`.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from pixflow.errors import ConfigError

FORMATS = ("plain", "json")
PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_PLACEHOLDER = re.compile(r"%(?:%|[-#0 +]*\d*(?:\.\d+)?[sdrfgixXeEc])")


def _argument_after(record: logging.LogRecord, word: str) -> object:
    """The argument that fills `WORD %s` in the record's format string, if it has one."""
    fmt, args = record.msg, record.args
    if not isinstance(fmt, str) or not isinstance(args, tuple) or f"{word} %s" not in fmt:
        return None
    before = fmt[: fmt.index(f"{word} %s")]
    index = sum(1 for found in _PLACEHOLDER.finditer(before) if found.group() != "%%")
    return args[index] if index < len(args) else None


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for key, word in (("job_id", "job"), ("backend", "backend")):
            value = getattr(record, key, None)
            if value is None:
                value = _argument_after(record, word)
            if value is not None:
                line[key] = str(value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, log_format: str = "plain") -> None:
    if log_format not in FORMATS:
        raise ConfigError(f"log_format must be one of {', '.join(FORMATS)}; got {log_format!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
