"""The agent's frame (agent/wire/wire_frame.h) for the Python test peers:
a 52-byte header (version 2, with the destination), the payload, and an
HMAC-SHA256 tag with the cluster key."""
import hashlib
import hmac
import socket
import struct

VERSION = 2
HDR_LEN = 52
TAG_LEN = 32
GOSSIP, RPC_REQ, RPC_RESP = 6, 7, 8


def addr(host, port):
    """(ip as a host-order integer, port) of "a.b.c.d", port."""
    return struct.unpack(">I", socket.inet_aton(host))[0], port


def header(typ, length, sender, to, epoch, seq, sent_ms, version=VERSION):
    return (b"IDNW" + bytes([version, typ, 0, 0]) + struct.pack("<I", length)
            + struct.pack("<IHH", sender[0], sender[1], 0)
            + struct.pack("<QQQ", epoch, seq, sent_ms)
            + struct.pack("<IHH", to[0], to[1], 0))


def seal(key, typ, payload, sender, to, epoch, seq, sent_ms):
    body = header(typ, len(payload), sender, to, epoch, seq, sent_ms) + payload
    return body + hmac.new(key, body, hashlib.sha256).digest()
