"""Holds TCP connections to an agent the way a slow-client attacker would,
for SECONDS: N that send nothing from address SILENT_SRC, and N that send
one byte every 4 s from TRICKLE_SRC.  A connection the agent closes is
opened again at once, so the pressure lasts.  Prints "opened N",
"busy N" (closed with the agent's "IDNB": no room), "closed N" (closed by
the agent after accepting it) and "unclosed N" (still held by the agent
after 12 s: more than twice its first-frame deadline).  One told busy is
opened again a second later (no connect flood).
usage: slow_peer.py HOST PORT SILENT_SRC TRICKLE_SRC N SECONDS"""
import select
import socket
import sys
import time

host, port, silent_src, trickle_src = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
n, seconds = int(sys.argv[5]), float(sys.argv[6])
HOLD_MAX = 12.0
opened = busy = closed = unclosed = 0
conns = {}  # socket -> [kind, opened at, next byte at]
later = []  # [when, kind]: connections to open again


def open_one(kind):
    global opened
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((silent_src if kind == "silent" else trickle_src, 0))
    s.settimeout(5)
    try:
        s.connect((host, port))
    except OSError:
        s.close()
        return
    s.setblocking(False)
    now = time.time()
    conns[s] = [kind, now, now + 4]
    opened += 1


end = time.time() + seconds
for kind in ("silent", "trickle"):
    for i in range(n):
        open_one(kind)
while conns or later:
    now = time.time()
    for e in [e for e in later if e[0] <= now]:
        later.remove(e)
        if now < end:
            open_one(e[1])
    ready, _, _ = select.select(list(conns), [], [], 0.2) if conns else ([], [], time.sleep(0.2))
    for s in ready:
        kind = conns[s][0]
        try:
            data = s.recv(16)
        except OSError:
            data = b""
        if data.startswith(b"IDNB"):
            busy += 1
        elif not data:
            closed += 1
        else:
            continue
        del conns[s]
        s.close()
        if time.time() < end:
            if data:
                later.append([time.time() + 1, kind])
            else:
                open_one(kind)
    for s, (kind, t0, nxt) in list(conns.items()):
        if now - t0 > HOLD_MAX:
            unclosed += 1
            del conns[s]
            s.close()
        elif kind == "trickle" and now >= nxt:
            conns[s][2] = now + 4
            try:
                s.send(b"I")
            except OSError:
                pass
    if time.time() >= end:
        later = []  # no more reopening; wait for the agent to close what is left
print("opened", opened)
print("busy", busy)
print("closed", closed)
print("unclosed", unclosed)
