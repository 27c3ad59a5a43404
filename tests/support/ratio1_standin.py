"""A faithful stand-in for a Ratio1 edge node's CStore and R1FS HTTP APIs, for tests.

It follows spec/ratio1-wire.md sections 1, 2 and 4 and is written independently of DataGems'
client (no imports from datagems_core), so the client is checked against the wire format, not
against itself. Both APIs share one port; `/get_status` answers for both.

    python -m tests.support.ratio1_standin --port N --state FILE [--mode normal]

Modes (also switched at runtime with `POST /__standin/mode {"mode": ...}`):
- normal:      writes return true (a peer confirmed them);
- no-peers:    set/hset return false and store nothing; hsync fails with 500;
- unconfirmed: set/hset return false but keep the value (no peer confirmed in time);
- error500:    every API call fails with 500 in the node's error shape;
- hang:        every API call waits until the mode changes (the client's timeout fires).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated, Any

import uvicorn
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

MODES = ("normal", "no-peers", "unconfirmed", "error500", "hang")
NODE_ADDR = "0xai_StandInNodeAddress000000000000000000000"
PEER_ADDR = "0xai_StandInPeerAddress000000000000000000000"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def envelope(result: Any) -> dict[str, Any]:
    return {
        "result": result,
        "server_node_addr": NODE_ADDR,
        "evm_network": "devnet",
        "ee_node_alias": "standin",
        "ee_node_address": NODE_ADDR,
        "ee_node_eth_address": "0x000000000000000000000000000000000000dEaD",
        "ee_node_network": "devnet",
        "ee_node_ver": "standin-1",
    }


def node_error(message: str) -> JSONResponse:
    detail = {**envelope(None), "error": message, "status_code": 500, "logged": True}
    del detail["result"]
    return JSONResponse({"detail": detail}, status_code=500)


def composed_key(hkey: str, field: str) -> str:
    return hash_prefix(hkey) + base64.urlsafe_b64encode(field.encode()).decode()


def hash_prefix(hkey: str) -> str:
    return "hs:" + hashlib.sha256(hkey.encode()).hexdigest()[:10] + ":"


def new_cid() -> str:
    number = int.from_bytes(secrets.token_bytes(32), "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = _B58[rest] + digits
    return "Qm" + digits.rjust(44, "1")[:44]


class Node:
    """One node's state: flat keys and files, persisted to one JSON file on every write."""

    def __init__(self, state_path: Path, mode: str) -> None:
        self.state_path = state_path
        self.mode = mode
        self.requests = 0  # API calls received, for tests that count retries
        self.keys: dict[str, Any] = {}
        self.files: dict[str, dict[str, str]] = {}  # cid -> {filename, data (base64)}
        if state_path.exists():
            state = json.loads(state_path.read_text())
            self.keys = state.get("cstore", {})
            self.files = state.get("r1fs", {})

    def save(self) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_path.parent, prefix=".standin-")
        with os.fdopen(fd, "w") as handle:
            json.dump({"cstore": self.keys, "r1fs": self.files}, handle)
        os.replace(tmp, self.state_path)

    def write(self, key: str, value: Any) -> bool:
        """CStore's `_set_value`: no peers stores nothing; otherwise store, then await a peer."""
        if self.mode == "no-peers":
            return False
        value = json.loads(json.dumps(value))
        if value is None:
            self.keys.pop(key, None)
        else:
            self.keys[key] = value
        self.save()
        return self.mode != "unconfirmed"

    def add_file(self, filename: str, data: bytes) -> str:
        cid = new_cid()
        self.files[cid] = {"filename": filename, "data": base64.b64encode(data).decode()}
        self.save()
        return cid


class SetBody(BaseModel):
    key: str
    value: Any
    chainstore_peers: list[Any] | None = None


class HSetBody(BaseModel):
    hkey: str
    key: str
    value: Any
    chainstore_peers: list[Any] | None = None


class HSyncBody(BaseModel):
    hkey: str
    chainstore_peers: list[Any] | None = None


class AddFileBase64Body(BaseModel):
    file_base64_str: str
    filename: str | None = None
    secret: str | None = None
    nonce: int | None = None


class AddJsonBody(BaseModel):
    data: Any
    fn: str | None = None
    secret: str | None = None
    nonce: int | None = None


class CidBody(BaseModel):
    cid: str
    secret: str | None = None


class DeleteFileBody(BaseModel):
    cid: str
    unpin_remote: bool = True
    run_gc: bool = False
    cleanup_local_files: bool = False


class ModeBody(BaseModel):
    mode: str


def create_app(node: Node) -> FastAPI:
    app = FastAPI(title="Ratio1 stand-in")

    @app.middleware("http")
    async def apply_mode(request: Request, call_next: Any) -> Any:
        if request.url.path.startswith("/__standin"):
            return await call_next(request)
        node.requests += 1
        while node.mode == "hang":
            await asyncio.sleep(0.05)
        if node.mode == "error500":
            return node_error(f"Error in {request.url.path.strip('/')}: stand-in error500 mode")
        return await call_next(request)

    @app.post("/__standin/mode", response_model=None)
    async def set_mode(body: ModeBody) -> dict[str, str] | JSONResponse:
        if body.mode not in MODES:
            return JSONResponse({"detail": f"mode must be one of {MODES}"}, status_code=400)
        node.mode = body.mode
        return {"mode": node.mode}

    @app.get("/__standin/requests")
    async def count_requests() -> dict[str, int]:
        return {"requests": node.requests}

    @app.get("/get_status")
    async def get_status() -> dict[str, Any]:
        return envelope({"ok": True, "message": "CStore Manager API is running.", "ID": PEER_ADDR})

    @app.post("/set")
    async def cstore_set(body: SetBody) -> dict[str, Any]:
        return envelope(node.write(body.key, body.value))

    @app.get("/get")
    async def cstore_get(key: str) -> dict[str, Any]:
        return envelope(node.keys.get(key))

    @app.post("/hset")
    async def cstore_hset(body: HSetBody) -> dict[str, Any]:
        return envelope(node.write(composed_key(body.hkey, body.key), body.value))

    @app.get("/hget")
    async def cstore_hget(hkey: str, key: str) -> dict[str, Any]:
        return envelope(node.keys.get(composed_key(hkey, key)))

    @app.get("/hgetall")
    async def cstore_hgetall(hkey: str) -> dict[str, Any]:
        prefix = hash_prefix(hkey)
        fields = {
            base64.urlsafe_b64decode(key[len(prefix) :].encode()).decode(): value
            for key, value in node.keys.items()
            if key.startswith(prefix)
        }
        return envelope(fields)

    @app.post("/hsync", response_model=None)
    async def cstore_hsync(body: HSyncBody) -> dict[str, Any] | JSONResponse:
        if node.mode == "no-peers":
            return node_error(
                f"Error in chainstore_hsync: No target peers resolved for hsync '{body.hkey}'."
            )
        return envelope({"hkey": body.hkey, "source_peer": PEER_ADDR, "merged_fields": 0})

    @app.post("/add_file_base64")
    async def r1fs_add_file_base64(body: AddFileBase64Body) -> dict[str, Any]:
        data = base64.b64decode(body.file_base64_str)
        return envelope({"cid": node.add_file(body.filename or "file", data)})

    @app.post("/add_file")
    async def r1fs_add_file(
        file: Annotated[UploadFile, File()],
        body: Annotated[str | None, Form()] = None,
    ) -> dict[str, Any]:
        del body  # carries the secret; the stand-in does not encrypt
        cid = node.add_file(file.filename or "file", await file.read())
        return envelope({"message": "File uploaded successfully", "cid": cid})

    @app.post("/add_json")
    async def r1fs_add_json(body: AddJsonBody) -> dict[str, Any]:
        text = json.dumps(body.data, sort_keys=True, separators=(",", ":"))
        return envelope({"cid": node.add_file(body.fn or "data.json", text.encode())})

    @app.get("/get_file", response_model=None)
    async def r1fs_get_file(cid: str, secret: str | None = None) -> Response:
        del secret
        stored = node.files.get(cid)
        if stored is None:
            detail = {**envelope(None), "detail": "File not found!"}
            return JSONResponse({"detail": detail}, status_code=404)
        meta = {"file": f"/edge_node/_local_cache/_output/{cid}", "filename": stored["filename"]}
        return Response(
            base64.b64decode(stored["data"]),
            media_type="application/octet-stream",
            headers={"x-meta": json.dumps(meta)},
        )

    @app.post("/get_file_base64")
    async def r1fs_get_file_base64(body: CidBody) -> dict[str, Any]:
        stored = node.files.get(body.cid)
        if stored is None:
            return envelope(
                {
                    "error": f"File not found for CID {body.cid}",
                    "file_base64_str": None,
                    "filename": None,
                }
            )
        return envelope({"file_base64_str": stored["data"], "filename": stored["filename"]})

    @app.post("/delete_file")
    async def r1fs_delete_file(body: DeleteFileBody) -> dict[str, Any]:
        found = node.files.pop(body.cid, None) is not None
        if found:
            node.save()
        message = "File deleted" if found else "File not found"
        return envelope({"success": found, "message": message, "cid": body.cid})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Ratio1 CStore + R1FS stand-in for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="JSON file holding the state")
    parser.add_argument("--mode", choices=MODES, default="normal")
    args = parser.parse_args()
    app = create_app(Node(args.state, args.mode))
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", timeout_graceful_shutdown=1
    )


if __name__ == "__main__":
    main()
