"""`pixflow submit --wait --download DIR`: the job's images saved where the client runs, over fetch_output."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pixflow.client import Client, ClientError

EXTENSIONS = {"png": ".png", "jpeg": ".jpg", "webp": ".webp"}


def download_outputs(client: Client, job_id: str, directory: Path) -> list[Path]:
    job = client.status(job_id)
    directory.mkdir(parents=True, exist_ok=True)
    saved = []
    for index in range(len(job.get("outputs") or [])):
        image = client.fetch_output(job_id, index)
        data = image["image"]
        if hashlib.sha256(data).hexdigest() != image["sha256"]:
            raise ClientError("corrupt", f"image {index} of job {job_id} does not match its sha256")
        path = directory / f"{job_id}_{index:02d}{EXTENSIONS.get(image['format'], '.bin')}"
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        saved.append(path)
    return saved
