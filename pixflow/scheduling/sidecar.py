"""The JSON written next to a job's images, and the text of a rejection by ComfyUI."""

from __future__ import annotations

from typing import Any

from pixflow import __version__
from pixflow.jobs.job import Job
from pixflow.vocabulary import now_ms


def sidecar_for(job: Job, backend_url: str) -> dict[str, Any]:
    return {
        "pixflow_version": __version__,
        "job_id": job.job_id,
        "request": job.params.to_wire(),
        "seed": job.params.seed,
        "workflow": job.workflow.name,
        "graph": job.graph,
        "input_images": {name: image["sha256"] for name, image in (job.params.images or {}).items()},
        "backend": {"name": job.backend, "url": backend_url},
        "prompt_id": job.prompt_id,
        "attempts": job.attempts,
        "timings": {
            "created_at": job.created_at,
            "started_at": job.started_at,
            "state_times": dict(job.state_times),
            "saved_at": now_ms(),
        },
    }


def rejection_message(error: dict[str, Any], node_errors: dict[str, Any]) -> str:
    parts = [str(error.get("message") or "ComfyUI rejected the prompt")]
    for node_id, detail in node_errors.items():
        for node_error in detail.get("errors", []):
            text = node_error.get("details") or node_error.get("message")
            parts.append(f"node {node_id} ({detail.get('class_type')}): {text}")
    return "; ".join(parts)
