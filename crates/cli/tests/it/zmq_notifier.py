"""Core's ZMQ block notifier, for a node built without ZMQ (Debian's litecoind).

The node runs with -blocknotify='echo %s > FIFO': each new tip's hash is written to FIFO,
and this publishes it on a libzmq PUB socket as Core's notifier does: a message of three
frames (topic, body, the topic's 4-byte little-endian sequence number), `hashblock` with the
hash in the byte order RPC shows, `rawblock` with the block itself, read from the node.

    python zmq_notifier.py FIFO PORT RPC_URL RPC_USER RPC_PASSWORD

PORT 0 binds a free port. Prints "ready PORT" once bound, then "sent HASH" per block.
"""

import base64
import json
import os
import sys
import urllib.request

import zmq

fifo, port, rpc_url, user, password = sys.argv[1:6]
if not os.path.exists(fifo):
    os.mkfifo(fifo)

context = zmq.Context()
socket = context.socket(zmq.PUB)
if int(port) == 0:
    port = socket.bind_to_random_port("tcp://127.0.0.1")
else:
    socket.bind(f"tcp://127.0.0.1:{port}")
print(f"ready {port}", flush=True)

auth = base64.b64encode(f"{user}:{password}".encode()).decode()


def raw_block(block_hash):
    body = json.dumps({"jsonrpc": "1.0", "id": 1, "method": "getblock",
                       "params": [block_hash, 0]}).encode()
    request = urllib.request.Request(rpc_url, data=body, headers={
        "Authorization": f"Basic {auth}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return bytes.fromhex(json.load(answer)["result"])


sequence = {"hashblock": 0, "rawblock": 0}
# Read and write: the FIFO never reads as closed between two writers.
fd = os.open(fifo, os.O_RDWR)
pending = b""
while True:
    pending += os.read(fd, 4096)
    while b"\n" in pending:
        line, pending = pending.split(b"\n", 1)
        block_hash = line.strip().decode()
        if len(block_hash) != 64:
            continue
        for topic, body in (("hashblock", bytes.fromhex(block_hash)),
                            ("rawblock", raw_block(block_hash))):
            socket.send_multipart([topic.encode(), body,
                                   sequence[topic].to_bytes(4, "little")])
            sequence[topic] += 1
        print(f"sent {block_hash}", flush=True)
