"""Where charge points upload diagnostics and logs: `/api/uploads/{name}`.

Point a GetDiagnostics `location` or a GetLog `remoteLocation` at
`http://127.0.0.1:9000/api/uploads/` and the twin PUTs its file there (a location ending
with `/` gets the file name appended); `GET /api/uploads` lists what arrived and
`GET /api/uploads/{name}` returns one file. Kept in memory: the last
``MAX_UPLOADS`` files of at most ``MAX_UPLOAD_BYTES`` each.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response, status
from pydantic import BaseModel

from shared.csms.state import utc_now

MAX_UPLOADS = 100
MAX_UPLOAD_BYTES = 1_000_000

FileName = Annotated[str, Path(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")]


@dataclass(slots=True)
class Upload:
    name: str
    content: bytes
    content_type: str
    received_at: datetime


class UploadPublic(BaseModel):
    name: str
    size: int
    content_type: str
    received_at: datetime


class UploadsPublic(BaseModel):
    data: list[UploadPublic]
    count: int


class UploadStore:
    """The latest uploads by name, oldest dropped first beyond ``MAX_UPLOADS``."""

    def __init__(self) -> None:
        self._files: OrderedDict[str, Upload] = OrderedDict()

    def put(self, upload: Upload) -> None:
        self._files.pop(upload.name, None)
        self._files[upload.name] = upload
        while len(self._files) > MAX_UPLOADS:
            self._files.popitem(last=False)

    def get(self, name: str) -> Upload | None:
        return self._files.get(name)

    def all(self) -> list[Upload]:
        return list(self._files.values())


def get_uploads(request: Request) -> UploadStore:
    store: UploadStore | None = getattr(request.app.state, "uploads", None)
    if store is None:
        store = request.app.state.uploads = UploadStore()
    return store


UploadsDep = Annotated[UploadStore, Depends(get_uploads)]


def _public(upload: Upload) -> UploadPublic:
    return UploadPublic(
        name=upload.name,
        size=len(upload.content),
        content_type=upload.content_type,
        received_at=upload.received_at,
    )


async def _read_limited(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, f"an upload is at most {MAX_UPLOAD_BYTES} bytes"
    )
    if declared is not None and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_UPLOAD_BYTES:
            raise too_large
    return bytes(body)


router = APIRouter(prefix="/uploads", tags=["uploads"])


@router.put(
    "/{name}",
    status_code=status.HTTP_201_CREATED,
    responses={413: {"description": "Larger than 1 MB"}},
    summary="Receive a diagnostics or log file (the body, as it is)",
)
async def put_upload(store: UploadsDep, request: Request, name: FileName) -> UploadPublic:
    content = await _read_limited(request)
    content_type = request.headers.get("content-type", "application/octet-stream")
    upload = Upload(name, content, content_type[:100], utc_now())
    store.put(upload)
    return _public(upload)


router.add_api_route(
    "/{name}",
    put_upload,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    responses={413: {"description": "Larger than 1 MB"}},
    summary="Receive a diagnostics or log file (as PUT does)",
)


@router.get("", summary="The files charge points uploaded, oldest first")
def list_uploads(store: UploadsDep) -> UploadsPublic:
    data = [_public(upload) for upload in store.all()]
    return UploadsPublic(data=data, count=len(data))


@router.get(
    "/{name}",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}, 404: {"description": "No such upload"}},
    summary="One uploaded file, as it arrived",
)
def read_upload(store: UploadsDep, name: FileName) -> Response:
    upload = store.get(name)
    if upload is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No upload named {name!r}")
    return Response(upload.content, media_type=upload.content_type)
