#!/usr/bin/env python3
"""Loopback TCP forwarder that records one TLS conversation for the parser tests.

Usage: capture_forwarder.py UPSTREAM_PORT OUT_PREFIX PORT_FILE

Listens on 127.0.0.1 (port 0; the port is written to PORT_FILE), accepts ONE client,
connects to 127.0.0.1:UPSTREAM_PORT and relays both directions unmodified until both
sides have closed. Writes:
  OUT_PREFIX.c2s        raw client->server bytes
  OUT_PREFIX.s2c        raw server->client bytes
  OUT_PREFIX.chunks     the conversation in arrival order: repeated
                        [1 byte 'C' or 'S'][4 bytes big-endian length][bytes]
"""
import select
import socket
import struct
import sys


def main() -> None:
    upstream_port, prefix, port_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with open(port_file, "w", encoding="ascii") as f:
        f.write(str(listener.getsockname()[1]))
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", upstream_port))
    peer = {client: server, server: client}
    tag = {client: b"C", server: b"S"}
    streams = {client: bytearray(), server: bytearray()}
    chunks = bytearray()
    open_ends = {client, server}
    while open_ends:
        readable, _, _ = select.select(list(open_ends), [], [], 30)
        if not readable:
            break  # a stuck peer: keep what was captured
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                open_ends.discard(sock)
                try:
                    peer[sock].shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                continue
            streams[sock] += data
            chunks += tag[sock] + struct.pack(">I", len(data)) + data
            try:
                peer[sock].sendall(data)
            except OSError:
                open_ends.discard(sock)
    with open(prefix + ".c2s", "wb") as f:
        f.write(streams[client])
    with open(prefix + ".s2c", "wb") as f:
        f.write(streams[server])
    with open(prefix + ".chunks", "wb") as f:
        f.write(chunks)


if __name__ == "__main__":
    main()
