"""Sends malformed input to an agent (no key): random, truncated and
oversized datagrams, and garbage TCP frames.  Prints how many of each it
sent, as "udp N" and "tcp N" lines.  usage: rogue.py HOST PORT"""
import os
import random
import socket
import sys
import time

from wire_frame import header

host, port = sys.argv[1], int(sys.argv[2])
rnd = random.Random(5)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
for i in range(300):  # random bytes, 0..1500 long
    u.sendto(os.urandom(rnd.randrange(0, 1500)), (host, port))
    sent += 1
hdr = header(1, 10, (0, 0), (0, 0), 0, 0, 0)
for i in range(100):  # a plausible header, cut short or with a wrong length or no valid tag
    body = hdr + os.urandom(rnd.randrange(0, 80))
    u.sendto(body[: rnd.randrange(1, len(body) + 1)], (host, port))
    sent += 1
for i in range(50):  # oversized
    u.sendto(b"IDNW" + os.urandom(60000), (host, port))
    sent += 1
    time.sleep(0.002)
print("udp", sent)
conns = 0
for kind in range(30):
    s = socket.create_connection((host, port), timeout=5)
    if kind % 3 == 0:
        s.sendall(os.urandom(200))  # not a frame
    elif kind % 3 == 1:
        s.sendall(header(1, 1 << 30, (0, 0), (0, 0), 0, 0, 0) + bytes(4))  # huge
    else:
        s.sendall(hdr + bytes(10) + bytes(32))  # right shape, bad tag
    try:
        s.recv(10)
    except OSError:
        pass
    s.close()
    conns += 1
print("tcp", conns)
