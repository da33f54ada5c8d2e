"""Sends authenticated but hostile SDFS requests to an agent, bypassing the
CLI's own checks: names that try to leave the store, a chunk with a forged
tag, a stream cut short, a misaligned read, more streams than it takes.  Prints what the agent did.
usage: sdfs_rogue.py HOST PORT KEYFILE"""
import os
import socket
import struct
import sys
import time

from wire_frame import HDR_LEN, TAG_LEN, addr, seal

host, port, keyfile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
key = bytes.fromhex(open(keyfile).read().strip())
seq = 0
epoch = int(time.time() * 1e9)
WRITE, READ = 32, 33


def frame(payload, typ=7):
    global seq
    seq += 1
    return seal(key, typ, payload, (0, 4242), addr(host, port), epoch, seq, int(time.time() * 1000))


def req(cmd, name, version=0, size=0, offset=0, want=1):
    return (bytes([cmd, len(name)]) + name + struct.pack("<QQQ", version, size, offset)
            + os.urandom(16) + bytes([want, 0]))


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        k = s.recv(n - len(b))
        if not k:
            return None
        b += k
    return b


def answer(s):
    h = recv_exact(s, HDR_LEN)
    if h is None:
        return None
    n = struct.unpack("<I", h[8:12])[0]
    rest = recv_exact(s, n + TAG_LEN)
    return None if rest is None else rest[:n]


def talk(payload):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(frame(payload))
    return s, answer(s)


refused = 0
for name in [b"../escape", b"/etc/passwd", b"a/../../b", b"a\x00b", b"x" * 101, b"", b"a//b", b"./a"]:
    s, a = talk(req(WRITE, name, size=10))
    s.close()
    if a is not None and a[0] == 22:  # EINVAL
        refused += 1
    else:
        print("bad name", name, "answered", a)
print("refused %d bad names" % refused)

# a chunk whose tag is forged
s, a = talk(req(WRITE, b"rogue/forged", size=2 << 20))
assert a is not None and a[0] == 0, a
chunk = b"IDCK" + struct.pack("<III", 0, 1 << 20, 0) + os.urandom(1 << 20) + os.urandom(16)
try:
    s.sendall(chunk)
    a = answer(s)
except OSError:
    a = None
s.close()
print("forged chunk refused" if a is not None and a[0] == 74 else "forged chunk: %r" % (a,))  # EBADMSG

# a stream cut short
s, a = talk(req(WRITE, b"rogue/cut", size=3 << 20))
assert a is not None and a[0] == 0, a
s.sendall(b"IDCK" + struct.pack("<III", 0, 1 << 20, 0) + bytes(5000))
s.close()
print("cut stream sent")

# a misaligned read of a file that does not exist, and a misaligned one
for off in (0, 7):
    s, a = talk(req(READ, b"rogue/none", offset=off))
    s.close()
    print("read offset %d answered %s" % (off, a[0] if a else None))
# every data stream taken: the next one is told so (EBUSY), not dropped
held = []
for i in range(24):
    s, a = talk(req(WRITE, b"rogue/hold%d" % i, size=1 << 20))
    held.append(s)
s, a = talk(req(WRITE, b"rogue/one-too-many", size=1 << 20))
print("stream 25 answered %s" % (a[0] if a else None))  # 16: EBUSY
s.close()
for s in held:
    s.close()
time.sleep(0.3)
