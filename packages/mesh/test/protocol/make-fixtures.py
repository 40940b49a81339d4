# Writes the v2 golden wire fixtures from hand-written literals (not from the TypeScript encoder, so the
# round-trip test compares the code against an independent statement of the wire format). Field order is
# part of the format: decoders emit fields in this order. Re-run only when adding a message; never to
# "fix" a failing round trip within v2. Usage: python3 make-fixtures.py && npx prettier --write v2
import json, struct, os

here = os.path.dirname(os.path.abspath(__file__))

def put(kind, name, obj, body=None):
    d = os.path.join(here, "v2", kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".json"), "w") as f:
        f.write(json.dumps(obj, indent=2) + "\n")
    if body is not None:
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(body)

model = {
    "id": "llama-q4km.gguf",
    "layerCount": 4,
    "layerBytes": 1048576,
    "embedBytes": 2097152,
    "headBytes": 2097152,
    "contextLength": 4096,
    "layerSizes": [1000000, 1100000, 1000000, 1094304],
    "source": {
        "format": "gguf",
        "url": "https://hub.example.org/owner/repo/resolve/0123456789abcdef0123456789abcdef01234567/llama-q4km.gguf",
        "files": [{"name": "llama-q4km.gguf", "size": 6291456, "sha256": "9f" * 32}],
        "revision": "0123456789abcdef0123456789abcdef01234567",
    },
    "draft": {
        "id": "draft",
        "source": {"format": "safetensors", "url": "/models/draft/", "files": [{"name": "config.json", "size": 612}]},
    },
}
caps = {
    "platform": "node",
    "adapter": {"description": "SwiftShader (fallback)", "limits": {"maxStorageBufferBindingSize": 1073741824, "maxBufferSize": 1073741824}},
    "memoryBudgetBytes": 536870912,
    "matmulGflops": 1.8,
    "models": [{"modelId": "pipemesh-tiny", "files": ["target/model.safetensors"]}],
    "name": "edge-1",
}
state = {
    "roomId": "r0omid7xyz",
    "model": model,
    "members": [
        {"peerId": "h3adp33r", "role": "head", "caps": caps, "loaded": {"layerStart": 0, "layerEnd": 0, "weightBytes": 0, "kvBytes": 0}},
        {"peerId": "st4g3one", "role": "stage", "caps": caps, "loaded": None},
    ],
    "plan": {
        "version": 3,
        "modelId": "pipemesh-tiny",
        "layerCount": 4,
        "headId": "h3adp33r",
        "stages": [
            {"peerId": "h3adp33r", "layerStart": 0, "layerEnd": 0},
            {"peerId": "st4g3one", "layerStart": 0, "layerEnd": 4},
        ],
        "idle": [],
        "contextLength": 4096,
        "modelUrl": "https://hub.example.org/owner/repo/resolve/0123456789abcdef0123456789abcdef01234567/llama-q4km.gguf",
    },
    "planError": None,
    "ready": False,
    "active": "h3adp33r",
    "queue": ["qu3u3dh3"],
}
V = 2
put("signal", "create", {"type": "create", "v": V, "model": model})
put("signal", "created", {"type": "created", "v": V, "roomId": "r0omid7xyz", "secret": "s3cr3tS3cr3tS3cr3tS3cr"})
put("signal", "join", {"type": "join", "v": V, "minV": 2, "roomId": "r0omid7xyz", "secret": "s3cr3tS3cr3tS3cr3tS3cr", "role": "stage", "caps": caps})
put("signal", "joined", {"type": "joined", "v": V, "peerId": "st4g3one", "state": state,
    "iceServers": [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}], "heartbeatMs": 5000, "livenessTimeoutMs": 20000})
put("signal", "caps", {"type": "caps", "v": V, "caps": caps})
put("signal", "ready", {"type": "ready", "v": V, "layerStart": 0, "layerEnd": 4, "weightBytes": 4194304, "kvBytes": 1048576})
put("signal", "request", {"type": "request", "v": V})
put("signal", "queued", {"type": "queued", "v": V, "position": 2})
put("signal", "granted", {"type": "granted", "v": V, "planVersion": 3})
put("signal", "release", {"type": "release", "v": V})
put("signal", "leave", {"type": "leave", "v": V})
put("signal", "state", {"type": "state", "v": V, "state": state})
# v2, additive: a plan with an idle member standing by for the tail's range.
standby_state = dict(state, members=state["members"] + [
    {"peerId": "st4ndby1", "role": "stage", "caps": caps, "loaded": {"layerStart": 0, "layerEnd": 4}},
], plan=dict(state["plan"], idle=["st4ndby1"], standby=[{"peerId": "st4ndby1", "layerStart": 0, "layerEnd": 4}]))
put("signal", "state-standby", {"type": "state", "v": V, "state": standby_state})
put("signal", "report", {"type": "report", "v": V, "peerId": "st4g3one", "code": "ERR_PEER_LOST", "message": "stage st4g3one: no heartbeat for 2500 ms"})
put("signal", "signal-offer", {"type": "signal", "v": V, "to": "st4g3one", "connId": "3/h3adp33r/st4g3one",
    "data": {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}})
put("signal", "signal-candidate", {"type": "signal", "v": V, "from": "h3adp33r", "connId": "3/h3adp33r/st4g3one",
    "data": {"type": "candidate", "candidate": {"candidate": "candidate:1 1 UDP 2114977791 127.0.0.1 40378 typ host", "sdpMLineIndex": 0, "sdpMid": "0"}}})
put("signal", "ping", {"type": "ping", "v": V, "t": 1234.5})
put("signal", "pong", {"type": "pong", "v": V, "t": 1234.5})
put("signal", "error", {"type": "error", "v": V, "code": "ERR_ROOM_SECRET", "message": "wrong room secret", "ref": "join"})

put("peer", "hello", {"type": "hello", "v": V, "minV": 2, "peerId": "st4g3one"})
put("peer", "run", {"type": "run", "v": V, "runId": 12, "kind": "speculative", "rows": 2, "cols": 3, "dtype": "f32",
    "positions": [5, 6], "seqIds": [[1], [1, 2]], "outputRows": [0, 1], "stageComputeMs": 1.25, "logitsRows": [1], "topK": 4},
    struct.pack("<6f", 1.0, 2.0, 3.0, -1.0, 0.5, 0.25))
put("peer", "run-f16", {"type": "run", "v": V, "runId": 13, "kind": "canonical", "rows": 1, "cols": 3, "dtype": "f16",
    "positions": [7], "seqIds": [[0]], "outputRows": [0], "stageComputeMs": 0},
    struct.pack("<3H", 0x3C00, 0xC000, 0x3800))
put("peer", "kv-seq_rm", {"type": "kv", "v": V, "op": {"op": "seq_rm", "seq": -1, "p0": 9, "p1": -1}})
put("peer", "kv-seq_cp", {"type": "kv", "v": V, "op": {"op": "seq_cp", "src": 1, "dst": 0, "p0": 6, "p1": 8}})
put("peer", "kv-seq_keep", {"type": "kv", "v": V, "op": {"op": "seq_keep", "seq": 0}})
put("peer", "kv-clear", {"type": "kv", "v": V, "op": {"op": "clear"}})
put("peer", "cancel", {"type": "cancel", "v": V, "runIds": [12, 14]})
put("peer", "skip", {"type": "skip", "v": V, "runId": 12, "stageComputeMs": 0.5})
put("peer", "result", {"type": "result", "v": V, "runId": 12, "stageComputeMs": 3.5,
    "outputs": [
        {"row": 0, "argmax": 2, "prob": 0.5, "topIds": [2, 1], "topProbs": [0.5, 0.25]},
        {"row": 1, "argmax": 3, "prob": 0.75, "topIds": [3, 0], "topProbs": [0.75, 0.125], "logits": True},
    ],
    "vocab": 4, "logitsDtype": "f32"},
    struct.pack("<4f", 0.0, 1.0, 2.0, 3.0))
put("peer", "ping", {"type": "ping", "v": V, "t": 99.5})
put("peer", "pong", {"type": "pong", "v": V, "t": 99.5})
put("peer", "bye", {"type": "bye", "v": V, "reason": "tab closed"})
put("peer", "error", {"type": "error", "v": V, "code": "ERR_STAGE_FAILED", "message": "stage st4g3one run 12: ERR_KV_FULL: no free cells", "runId": 12, "peerId": "st4g3one"})
