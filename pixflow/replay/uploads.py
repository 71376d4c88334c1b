"""ComfyUI's `POST /upload/image`, as the replay server can answer it (docs/comfyui.md).

A multipart form: `image` (the file), `type` (`input` by default), `subfolder`, `overwrite` (`true`/`1` replaces a
file of that name; otherwise ComfyUI picks `name (1).ext`). The answer is `{"name", "subfolder", "type"}`: the name
the file got. Files are kept in memory, keyed `subfolder/name` (or `name`), in the mapping given to the routes:
each upload of a name appends its bytes, so a test sees how often a file was sent.
"""

from __future__ import annotations

from aiohttp import web


def add_upload_routes(app: web.Application, store: dict[str, list[bytes]]) -> None:
    async def upload(request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", "") or "")
        folder_type = str(post.get("type", "") or "input")
        if ".." in subfolder.split("/") or subfolder.startswith("/"):
            return web.Response(status=400)
        name = image.filename
        overwrite = str(post.get("overwrite", "")) in ("true", "1")
        stem, dot, extension = name.rpartition(".")
        number = 1
        while not overwrite and _key(subfolder, name) in store:
            name = f"{stem} ({number}){dot}{extension}"
            number += 1
        store.setdefault(_key(subfolder, name), []).append(image.file.read())
        return web.json_response({"name": name, "subfolder": subfolder, "type": folder_type})

    app.router.add_post("/upload/image", upload)
    app.router.add_post("/api/upload/image", upload)


def _key(subfolder: str, name: str) -> str:
    return f"{subfolder}/{name}" if subfolder else name
