"""Real servers on 127.0.0.1 for the delivery tests: a tiny SMTP server (the commands smtplib sends, no TLS), an
HTTP server that records the POSTs, a UDP socket for syslog. Each runs in a thread and keeps what it received."""

from __future__ import annotations

import base64
import email
import email.policy
import http.server
import socket
import socketserver
import ssl
import subprocess
import threading
from email.message import EmailMessage
from pathlib import Path
from typing import Any


def free_port() -> int:
    """A port nothing listens on (bound once, then closed): the server that is down."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: SMTPServer = self.server  # type: ignore[assignment]
        self.wfile.write(b"220 test ESMTP\r\n")
        rcpt: list[str] = []
        secure = False
        while True:
            line = self.rfile.readline(65536)
            if not line:
                return
            cmd = line.decode("ascii", "replace").strip()
            verb = cmd[:4].upper()
            if verb == "EHLO":
                tls = b"250-STARTTLS\r\n" if server.tls is not None and not secure else b""
                self.wfile.write(b"250-test\r\n" + tls + b"250-AUTH PLAIN\r\n250 SIZE 10000000\r\n")
            elif verb == "STAR" and server.tls is not None:  # STARTTLS: the same session, encrypted from here
                self.wfile.write(b"220 go ahead\r\n")
                self.request = server.tls.wrap_socket(self.request, server_side=True)
                self.rfile = self.request.makefile("rb")
                self.wfile = self.request.makefile("wb", buffering=0)
                secure = True
            elif verb == "HELO":
                self.wfile.write(b"250 test\r\n")
            elif verb == "MAIL":
                rcpt = []
                self.wfile.write(b"250 ok\r\n")
            elif verb == "RCPT":
                rcpt.append(cmd.partition(":")[2].strip().strip("<>"))
                self.wfile.write(b"250 ok\r\n")
            elif verb == "DATA":
                self.wfile.write(b"354 go on\r\n")
                data = bytearray()
                while True:
                    part = self.rfile.readline(1 << 20)
                    if not part or part == b".\r\n":
                        break
                    data += part[1:] if part.startswith(b"..") else part
                msg = email.message_from_bytes(bytes(data), policy=email.policy.default)
                with server.lock:
                    server.messages.append((rcpt, msg))  # type: ignore[arg-type]
                    server.secure.append(secure)
                self.wfile.write(b"250 queued\r\n")
            elif verb == "AUTH":  # AUTH PLAIN <base64 of \0user\0password>
                words = cmd.split()
                if len(words) < 3:
                    self.wfile.write(b"334 \r\n")
                    words.append(self.rfile.readline(65536).decode().strip())
                with server.lock:
                    server.logins.append(tuple(base64.b64decode(words[2]).decode().split("\0")[1:]))
                self.wfile.write(b"235 ok\r\n")
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:  # RSET, NOOP...
                self.wfile.write(b"250 ok\r\n")


class SMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.secure: list[bool] = []  # each message: received after STARTTLS
        self.tls = tls
        self.logins: list[tuple[str, ...]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _SMTPHandler)
        self.port = int(self.server_address[1])
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def subjects(self) -> list[str]:
        with self.lock:
            return [str(m["Subject"]) for _, m in self.messages]

    def close(self) -> None:
        self.shutdown()
        self.server_close()


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 and its key, made by the openssl program (None when there is none)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return cert, key


class _HookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        server: HookServer = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path.startswith("/elsewhere"):  # a redirect to another host: must not be followed
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.2:9/stolen")
            self.end_headers()
            return
        if self.path.startswith("/same"):  # a redirect on the same origin: followed, the POST kept
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{server.port}/moved")
            self.end_headers()
            return
        with server.lock:
            server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class HookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        self.posts: list[tuple[str, str, bytes]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _HookHandler)
        self.port = int(self.server_address[1])
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class SyslogSocket:
    """A UDP socket on 127.0.0.1 standing in for a syslog server."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[bytes] = []

    def read(self) -> list[bytes]:
        while True:
            try:
                self.lines.append(self.sock.recv(65536))
            except BlockingIOError:
                return self.lines

    def close(self) -> None:
        self.sock.close()
