"""Real mail servers on loopback for the email-channel tests.

* :class:`Dovecot`: Debian's dovecot IMAP server started from a minimal config written into a
  temporary directory (plaintext passwd-file users, maildirs under the same directory, no
  TLS), listening on a free 127.0.0.1 port. Messages are delivered with IMAP APPEND.
* :class:`SmtpCapture`: aiosmtpd's Controller on a free loopback port, recording every
  message it accepts.

``make mail-deps`` installs dovecot (``dovecot-imapd``) when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

DOVECOT = "/usr/sbin/dovecot"
USERS = 200  # accounts for one test session (one per test that needs a mailbox)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("dovecot did not start listening")


@dataclass
class Dovecot:
    """A running dovecot; ``add_user()`` makes a fresh account (and mailbox) per test."""

    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)
    spare: list[tuple[str, str]] = field(default_factory=list)

    host = "127.0.0.1"

    @property
    def passwd(self) -> Path:
        return self.root / "passwd"

    def config(self) -> str:
        owner = pwd.getpwuid(os.getuid()).pw_name
        # As root, mail processes must run as some unprivileged user: dovecot's own.
        mail_user = "dovecot" if os.getuid() == 0 else owner
        entry = pwd.getpwnam(mail_user)
        login_user = "dovenull" if os.getuid() == 0 else owner
        return f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {mail_user}
default_login_user = {login_user}
first_valid_uid = {entry.pw_uid}
first_valid_gid = 0
mail_location = maildir:{self.root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={entry.pw_uid} gid={entry.pw_gid} home={self.root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def start(self) -> None:
        for sub in ("run", "state", "mail", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            entry = pwd.getpwnam("dovecot")
            for sub in ("mail", "home"):
                os.chown(self.root / sub, entry.pw_uid, entry.pw_gid)
            os.chmod(self.root, 0o755)
        self._write_users(USERS)
        conf = self.root / "dovecot.conf"
        conf.write_text(self.config())
        check = subprocess.run([DOVECOT, "-n", "-c", str(conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"bad dovecot config: {check.stderr}")
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _wait_for_port(self.port, self.process, self.root / "dovecot.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _write_users(self, count: int) -> None:
        """Accounts made before start: dovecot may cache a passwd file changed in the same
        second it last read it, so the tests never rely on it re-reading one."""
        for _ in range(count):
            self.spare.append((f"u{secrets.token_hex(4)}", secrets.token_urlsafe(12)))
        lines = "".join(f"{u}:{{PLAIN}}{p}::::::\n" for u, p in self.spare)
        self.passwd.write_text(lines)

    def add_user(self) -> tuple[str, str]:
        """A fresh account (an empty mailbox) for one test."""
        user, password = self.spare.pop()
        self.users[user] = password
        return user, password

    def client(self, user: str) -> Any:
        from imapclient import IMAPClient

        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(user, self.users[user])
        return client

    def deliver(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Put a message into the user's folder (IMAP APPEND), as a delivery would."""
        client = self.client(user)
        try:
            client.append(folder, raw)
        finally:
            client.logout()

    def count(self, user: str, folder: str = "INBOX") -> int:
        client = self.client(user)
        try:
            return int(client.select_folder(folder, readonly=True)[b"EXISTS"])
        finally:
            client.logout()


@contextlib.contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """A dovecot for a test module's session fixture; tests make their own user each."""
    if not Path(DOVECOT).exists():
        raise RuntimeError("dovecot is missing: run `make mail-deps`")
    root = Path(tempfile.mkdtemp(prefix="kefu-dovecot-"))
    server = Dovecot(root=root, port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class SmtpCapture:
    """aiosmtpd on loopback; ``messages`` are the parsed messages it accepted."""

    host: str
    port: int
    envelopes: list[Any] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        return [
            message_from_bytes(e.original_content or e.content, policy=policy.default)
            for e in self.envelopes
        ]

    def to(self, address: str) -> list[Message]:
        return [
            message_from_bytes(e.original_content or e.content, policy=policy.default)
            for e in self.envelopes
            if address in e.rcpt_tos
        ]


@contextlib.contextmanager
def running_smtp(refuse: str | None = None, port: int | None = None) -> Iterator[SmtpCapture]:
    """A real SMTP server for a test (the mailbox's SMTP settings point at it). ``refuse``
    (e.g. "554 5.7.1 Relay access denied") answers every message with that error instead."""
    from aiosmtpd.controller import Controller

    capture = SmtpCapture("127.0.0.1", port or free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if refuse:
                return refuse
            capture.envelopes.append(envelope)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=capture.host, port=capture.port)
    controller.start()
    try:
        yield capture
    finally:
        controller.stop()
