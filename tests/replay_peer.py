"""Plays the attacker who captured an authenticated request: builds one
with the cluster key (as a CLI client would, addressed to one agent) and
replays its exact bytes to any agent.
usage: replay_peer.py seal KEYFILE CMD HOST PORT OUT   (CMD: self, leave)
       replay_peer.py send HOST PORT FILE
`send` prints "answered" when a response frame came back, else "closed"."""
import os
import socket
import struct
import sys
import time

from wire_frame import HDR_LEN, RPC_REQ, addr, seal

CMDS = {"self": 2, "leave": 3}


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            return None
        b += k
    return b


if sys.argv[1] == "seal":
    keyfile, cmd, host, port, out = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
    key = bytes.fromhex(open(keyfile).read().strip())
    sender = (struct.unpack("<I", os.urandom(4))[0] & 0xFFFFFF, 1 + os.urandom(1)[0])
    payload = bytes([CMDS[cmd], 0]) + struct.pack("<H", 0)
    now = int(time.time() * 1000)
    with open(out, "wb") as f:
        f.write(seal(key, RPC_REQ, payload, sender, addr(host, port), now * 1000000, 1, now))
else:
    host, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(open(path, "rb").read())
    try:
        h = recv_exact(s, HDR_LEN)
    except OSError:
        h = None
    print("answered" if h is not None and h[:4] == b"IDNW" else "closed")
