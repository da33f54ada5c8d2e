"""Plays the attacker who captured an authenticated request: builds one
with the cluster key (as a CLI client would, addressed to one agent) and
replays its exact bytes to any agent.
usage: replay_peer.py seal KEYFILE CMD HOST PORT OUT   (CMD: self, leave, gossip)
       replay_peer.py send HOST PORT FILE
       replay_peer.py send-udp HOST PORT FILE
`send` prints "answered" when a response frame came back, else "closed".
A gossip is a SWIM datagram with no updates from 127.0.0.50 (no member, so
no member's replay window is disturbed)."""
import os
import socket
import struct
import sys
import time

from wire_frame import GOSSIP, HDR_LEN, RPC_REQ, addr, seal

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
    now = int(time.time() * 1000)
    if cmd == "gossip":  # flags, seq, target, origin, no updates
        typ, sender, payload = GOSSIP, addr("127.0.0.50", port), bytes(1 + 4 + 6 + 6 + 2)
    else:
        typ, payload = RPC_REQ, bytes([CMDS[cmd], 0]) + struct.pack("<H", 0)
        sender = (struct.unpack("<I", os.urandom(4))[0] & 0xFFFFFF, 1 + os.urandom(1)[0])
    with open(out, "wb") as f:
        f.write(seal(key, typ, payload, sender, addr(host, port), now * 1000000, 1, now))
elif sys.argv[1] == "send-udp":
    host, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(open(path, "rb").read(), (host, port))
else:
    host, port, path = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(open(path, "rb").read())
    try:
        h = recv_exact(s, HDR_LEN)
    except OSError:
        h = None
    print("answered" if h is not None and h[:4] == b"IDNW" else "closed")
