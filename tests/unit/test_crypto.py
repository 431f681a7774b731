"""Contact protection, pure: normalization, masks, authenticated encryption, keyed hashes."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidTag

from models.services.common.crypto import (
    Cipher,
    generate_key,
    mask_email,
    mask_phone,
    new_token,
    normalize_email,
    normalize_phone,
    token_hash,
)
from models.services.common.errors import ValidationFailed


@pytest.mark.parametrize(
    "written",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 138 1234 5678",
        "+8613812345678",
        "0086 138 1234 5678",
        "8613812345678",
        "(138) 1234-5678",
    ],
)
def test_one_mobile_number_however_it_is_written(written: str) -> None:
    assert normalize_phone(written) == "13812345678"


def test_full_width_input_finds_the_same_customer() -> None:
    """Chinese input methods type full-width digits and ＠; the registry folds them."""
    from models.services.customers.registry import CustomerInput, normalized

    name, phone, email = normalized(
        CustomerInput(
            name=" 林 ", phone="１３８ １２３４ ５６７８", email="Ｌｉｎ＠Ｅｘａｍｐｌｅ．ｃｏｍ"
        )
    )
    assert (name, phone, email) == ("林", "13812345678", "lin@example.com")


@pytest.mark.parametrize("value", ["", "12345", "1381234567a", "phone", "+", "1" * 16, "138@1"])
def test_invalid_phone_numbers_are_refused(value: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        normalize_phone(value)
    assert error.value.fields == {"phone": "invalid"}


def test_landlines_and_foreign_numbers_keep_their_digits() -> None:
    assert normalize_phone("021-6123 4567") == "02161234567"
    assert normalize_phone("+44 20 7946 0958") == "442079460958"


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("Li.Lei@Example.COM", "li.lei@example.com"),
        ("  mei@example.com ", "mei@example.com"),
    ],
)
def test_emails_normalize_to_lowercase(written: str, normal: str) -> None:
    assert normalize_email(written) == normal


@pytest.mark.parametrize(
    "value",
    [
        "",
        "a@b",
        "no-at.example.com",
        "a b@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_invalid_emails_are_refused(value: str) -> None:
    with pytest.raises(ValidationFailed):
        normalize_email(value)


def test_masks() -> None:
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("442079460958") == "********0958"
    assert mask_email("alice@example.com") == "a***@example.com"
    assert mask_email("b@example.org") == "b***@example.org"


def test_encryption_round_trip_is_randomized_and_names_its_key() -> None:
    cipher = Cipher((generate_key(),))
    first, second = cipher.encrypt("13812345678"), cipher.encrypt("13812345678")
    assert first != second, "a fresh nonce every time"
    assert first.startswith(f"v1:{cipher.primary_id}:") and "13812345678" not in first
    assert cipher.decrypt(first) == cipher.decrypt(second) == "13812345678"


def test_tampering_is_detected() -> None:
    cipher = Cipher((generate_key(),))
    token = cipher.encrypt("mei@example.com")
    prefix, key_id, body = token.split(":", 2)
    blob = bytearray(base64.b64decode(body))
    for position in (0, 12, len(blob) - 1):  # the nonce, the ciphertext, the tag
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        with pytest.raises(InvalidTag):
            cipher.decrypt(f"{prefix}:{key_id}:{base64.b64encode(bytes(tampered)).decode()}")
    other_key_id = "0" * 8 if key_id != "0" * 8 else "1" * 8
    with pytest.raises(ValueError):
        cipher.decrypt(f"{prefix}:{other_key_id}:{body}")


def test_a_ring_decrypts_old_keys_and_encrypts_with_the_first() -> None:
    old, new = generate_key(), generate_key()
    before = Cipher((old,))
    during = Cipher((new, old))
    token = before.encrypt("13812345678")
    assert during.decrypt(token) == "13812345678"
    assert during.key_id_of(during.encrypt("x")) == during.primary_id != before.primary_id
    with pytest.raises(ValueError, match="unknown key"):
        Cipher((new,)).decrypt(token)


def test_lookup_hashes_are_keyed_and_tried_under_every_key() -> None:
    old, new = generate_key(), generate_key()
    before, during = Cipher((old,)), Cipher((new, old))
    stored = before.blind_index("phone", "13812345678")
    assert stored in during.blind_indexes("phone", "13812345678")
    assert during.blind_index("phone", "13812345678") != stored, "re-hashed under the new key"
    assert before.blind_index("email", "13812345678") != stored, "kinds never collide"
    assert len(stored) == 64 and "13812345678" not in stored


def test_keys_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        Cipher(("c2hvcnQ=",))
    with pytest.raises(ValueError):
        Cipher(())


def test_tokens_are_unguessable_and_stored_as_hashes() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) >= 32 for t in tokens)
    token = tokens.pop()
    assert token_hash(token) == token_hash(token) != token and len(token_hash(token)) == 64
