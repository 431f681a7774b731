"""Contact protection: authenticated encryption, keyed lookup hashes, normalization, masks.

Ciphertexts name the key that made them (``v1:<key id>:<base64 nonce+ct>``), so a keyring
of several keys decrypts old rows while new rows use the first key: rotation without
downtime. Lookup hashes are HMAC-SHA256 of the normalized value under a key derived from each
keyring key; lookups try every key's hash until rotation has rewritten the rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from models.services.common.errors import N_, ValidationFailed

_PREFIX = "v1"
PHONE_RE = re.compile(r"^(1[3-9]\d{9}|\+?\d{7,15})$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(key)


def _decode_key(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) < 32:
        raise ValueError("an encryption key must be 32 bytes, base64-encoded")
    return raw[:32]


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    hash_key: bytes


class Cipher:
    """Encrypts with the first key of the keyring; decrypts with whichever key made it."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("no encryption key configured")
        self._keys: list[_Key] = []
        for text in keys:
            raw = _decode_key(text)
            key_id = hashlib.sha256(raw).hexdigest()[:8]
            self._keys.append(
                _Key(key_id, AESGCM(_derive(raw, b"kefu-aead")), _derive(raw, b"kefu-index"))
            )
        self._by_id = {k.key_id: k for k in self._keys}

    @property
    def primary_id(self) -> str:
        return self._keys[0].key_id

    def encrypt(self, plaintext: str) -> str:
        key = self._keys[0]
        nonce = secrets.token_bytes(12)
        sealed = key.aead.encrypt(nonce, plaintext.encode(), key.key_id.encode())
        return f"{_PREFIX}:{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        prefix, key_id, body = token.split(":", 2)
        if prefix != _PREFIX or key_id not in self._by_id:
            raise ValueError("ciphertext made with an unknown key")
        blob = base64.b64decode(body)
        return self._by_id[key_id].aead.decrypt(blob[:12], blob[12:], key_id.encode()).decode()

    def encrypt_bytes(self, data: bytes) -> bytes:
        """Sealed bytes for kept blobs (raw mail): ``v1:<key id>:`` + nonce + ciphertext."""
        key = self._keys[0]
        nonce = secrets.token_bytes(12)
        sealed = key.aead.encrypt(nonce, data, key.key_id.encode())
        return f"{_PREFIX}:{key.key_id}:".encode() + nonce + sealed

    def decrypt_bytes(self, blob: bytes) -> bytes:
        prefix, key_id_raw, body = blob.split(b":", 2)
        key_id = key_id_raw.decode("ascii", "replace")
        if prefix.decode("ascii", "replace") != _PREFIX or key_id not in self._by_id:
            raise ValueError("ciphertext made with an unknown key")
        return self._by_id[key_id].aead.decrypt(body[:12], body[12:], key_id.encode())

    def key_id_of(self, token: str) -> str:
        return token.split(":", 2)[1]

    def blind_index(self, kind: str, normalized: str) -> str:
        """The lookup hash under the primary key."""
        return self._hash(self._keys[0], kind, normalized)

    def blind_indexes(self, kind: str, normalized: str) -> list[str]:
        """The lookup hashes under every key (for lookups during rotation)."""
        return [self._hash(k, kind, normalized) for k in self._keys]

    @staticmethod
    def _hash(key: _Key, kind: str, normalized: str) -> str:
        message = f"{kind}:{normalized}".encode()
        return hmac.new(key.hash_key, message, hashlib.sha256).hexdigest()


@lru_cache(maxsize=4)
def cipher_for(keys: tuple[str, ...]) -> Cipher:
    return Cipher(keys)


def normalize_phone(value: str) -> str:
    """Digits only; a mainland mobile loses its +86/0086 country prefix.

    NFKC first, so full-width digits typed by Chinese input methods (１３８…) match.
    """
    digits = re.sub(r"[\s\-().]", "", unicodedata.normalize("NFKC", value).strip())
    digits = digits.removeprefix("+")
    if not digits.isdigit():
        raise ValidationFailed(N_("Enter a valid phone number."), fields={"phone": "invalid"})
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not PHONE_RE.match(digits):
        raise ValidationFailed(N_("Enter a valid phone number."), fields={"phone": "invalid"})
    return digits


def normalize_email(value: str) -> str:
    email = unicodedata.normalize("NFKC", value).strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise ValidationFailed(N_("Enter a valid email address."), fields={"email": "invalid"})
    return email


def mask_phone(phone: str) -> str:
    """138****5678 for a mobile; otherwise all but the last four digits hidden."""
    if len(phone) == 11:
        return f"{phone[:3]}****{phone[-4:]}"
    return "*" * max(len(phone) - 4, 0) + phone[-4:]


def mask_email(email: str) -> str:
    """a***@example.com"""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def token_hash(token: str) -> str:
    """Hash of an unguessable token (tracking links, survey links, API keys)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(24)
