"""The REST routes over real HTTP, against a real worker on the replay ComfyUI: what each answers, the worker's
files as bytes, paging, groups and sheets, the admin routes' tokens, and the protocol's errors as HTTP statuses."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from pixflow.testing import wait_for
from tests.web.conftest import SMALL, Api, Web

EXACT = {"grid": 12, "grid_mode": "override", "background": "none"}  # tests/test_sheet.py's: sizes known


def _generate(api: Api, job_id: str, **fields: Any) -> dict[str, Any]:
    accepted = api.ok("POST", "/v1/jobs", {"id": job_id, "prompt": "pixel art knight", **SMALL, **fields})
    assert accepted["job_id"] == job_id and accepted["existing"] is False
    return api.wait_job(job_id)


def test_generate_status_and_the_output_bytes_are_the_file_on_disk(web: Web) -> None:
    api = web.api
    job = _generate(api, "web-1", seed=3)
    assert job["state"] == "done" and job["params"]["seed"] == 3
    again = api.ok("POST", "/v1/jobs", {"id": "web-1", "prompt": "anything"})
    assert again["existing"] is True
    image = api.get("/v1/jobs/web-1/outputs/0")
    assert image.status_code == 200 and image.headers["Content-Type"] == "image/png"
    assert image.content == Path(job["outputs"][0]["path"]).read_bytes()
    meta = api.ok("GET", "/v1/jobs/web-1/outputs/0?meta=1")
    assert meta["format"] == "png" and meta["bytes"] == len(image.content) and "image" not in meta
    thumb = api.get("/v1/jobs/web-1/outputs/0", params={"max_side": 16})
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert max(small.size) <= 16
    assert api.get("/v1/jobs/web-1/outputs/5").json()["code"] == "not_found"
    preview = api.get("/v1/jobs/web-1/preview")  # the job asked for no previews
    assert preview.status_code == 404 and preview.json()["code"] == "not_found"
    retried = api.ok("POST", "/v1/jobs/web-1/retry", {"id": "web-1b", "new_seed": True})
    assert (retried["job_id"], retried["retry_of"]) == ("web-1b", "web-1")
    assert api.wait_job("web-1b")["state"] == "done"


def test_an_input_image_travels_as_base64(web: Web) -> None:
    png = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 30, 30)).save(png, format="PNG")
    images = {"reference": base64.b64encode(png.getvalue()).decode()}
    job = _generate(web.api, "web-img", workflow="sprite_img2img", images=images)
    assert job["state"] == "done" and job["params"]["images"]["reference"]["format"] == "png"
    bad = web.api.post("/v1/jobs", {"prompt": "x", "workflow": "sprite_img2img", "images": {"reference": "no!"}})
    assert bad.status_code == 422 and bad.json() == {"code": "invalid_params", "message": bad.json()["message"]}


def test_list_pages_cancel_of_an_ended_job_and_the_read_routes(web: Web) -> None:
    api = web.api
    for n in range(3):
        _generate(api, f"page-{n}")
    first = api.ok("GET", "/v1/jobs?limit=2")
    assert [j["job_id"] for j in first["jobs"]] == ["page-2", "page-1"] and first["total"] == 3
    second = api.ok("GET", f"/v1/jobs?limit=2&before={first['next']}")
    assert [j["job_id"] for j in second["jobs"]] == ["page-0"] and second["next"] is None
    assert api.ok("GET", "/v1/jobs?state=failed,cancelled")["total"] == 0
    cancel = api.post("/v1/jobs/page-0/cancel")
    assert cancel.status_code == 409 and cancel.json()["code"] == "already_finished"
    workflows = api.ok("GET", "/v1/workflows")
    assert "txt2img" in {w["name"] for w in workflows["workflows"]} and workflows["workflows"][0]["parameters"]
    assert api.ok("GET", "/v1/models")["models"]
    worker = api.ok("GET", "/v1/worker")
    assert worker["jobs"]["done"] == 3 and worker["backends"]
    health = requests.get(web.url + "/v1/health", timeout=10)  # no token needed
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_compare_and_a_sheet_with_its_files(web: Web) -> None:
    api = web.api
    group = api.ok("POST", "/v1/compare", {"prompt": "a castle", "group_id": "cmp", "seeds": [1, 2], **SMALL})
    assert group["job_ids"] == ["cmp-1", "cmp-2"]
    ended = wait_for(lambda: (g := api.ok("GET", "/v1/groups/cmp"))["contact_sheet"] and g, 20, "the contact sheet")
    assert ended["finished"] and Path(ended["contact_sheet"]).exists()
    rows = [{"name": "idle", "prompt": "standing"}, "walk"]
    body = {"prompt": "knight", "group_id": "hero", "rows": rows, "frames": 2, "cell": [16, 16], **SMALL}
    sheet = api.ok("POST", "/v1/sheets", {**body, "palette": "pico-8", "params": EXACT})
    assert sheet["job_ids"] == [f"hero-{n}" for n in range(1, 5)]
    files = wait_for(lambda: api.ok("GET", "/v1/groups/hero")["sprite_sheet"], 30, "the sprite sheet")
    png = api.get("/v1/groups/hero/files/sheet")
    assert png.headers["Content-Type"] == "image/png" and png.content == Path(files["sheet"]).read_bytes()
    atlas = api.get("/v1/groups/hero/files/atlas")
    assert atlas.headers["Content-Type"] == "application/json" and atlas.json()["meta"]["size"] == {"w": 32, "h": 32}
    gif = api.get("/v1/groups/hero/files/preview?row=walk")
    assert gif.headers["Content-Type"] == "image/gif" and gif.content == Path(files["previews"]["walk"]).read_bytes()
    no_row = api.get("/v1/groups/hero/files/preview")
    assert no_row.status_code == 422 and "row" in no_row.json()["message"]
    assert api.get("/v1/groups/nothing").status_code == 404


def test_admin_routes_need_an_admin_token(web: Web) -> None:
    api = web.api
    for path in ("/v1/pause", "/v1/resume", "/v1/backends/default/drain"):
        assert api.post(path, role="submitter").json()["code"] == "forbidden"
        assert api.post(path, role="submitter").status_code == 403
        assert requests.post(web.url + path, timeout=10).status_code == 401
    assert requests.get(web.url + "/v1/jobs", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
    assert api.get("/v1/jobs", role="viewer").status_code == 200
    assert api.post("/v1/jobs", {"prompt": "x"}, role="viewer").status_code == 403
    assert api.ok("POST", "/v1/pause")["paused"] is True
    assert api.ok("POST", "/v1/resume")["paused"] is False
    name = api.ok("GET", "/v1/worker")["backends"][0]["name"]
    assert api.ok("POST", f"/v1/backends/{name}/drain")["mode"] == "draining"
    assert api.ok("POST", f"/v1/backends/{name}/disable")["mode"] == "disabled"
    assert api.ok("POST", f"/v1/backends/{name}/enable")["mode"] == "active"
    assert api.post("/v1/backends/nope/drain").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"prompt": "x", "steps": 0}, "'steps'"),
        ({"prompt": "x", "size": [63, 64]}, "size"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "workflow": "no-such"}, "no-such"),
        ({"prompt": "x", "id": "bad id!"}, "'id'"),
    ],
)
def test_bad_input_is_422_with_the_protocols_message(web: Web, body: dict[str, Any], says: str) -> None:
    response = web.api.post("/v1/jobs", body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_params" and says in response.json()["message"]


def test_other_errors_map_to_their_statuses(web: Web) -> None:
    api = web.api
    unknown = api.get("/v1/jobs/no-such-job")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert api.get("/v1/jobs?limit=many").status_code == 422  # the worker's own check of the field
    not_json = requests.post(api.url + "/v1/jobs", data=b"{", headers=api.headers(), timeout=10)
    assert not_json.status_code == 400 and not_json.json()["code"] == "bad_request"
    assert api.post("/v1/jobs", [1, 2]).json()["code"] == "bad_request"
    assert api.get("/v1/nowhere").json()["code"] == "not_found"
