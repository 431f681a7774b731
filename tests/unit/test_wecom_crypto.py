"""WeCom's callback crypto against its spec, the reply rule, and sync_msg item parsing.

The known vector is computed here, independently of the module, straight from the spec
("加解密方案说明"): AES-256-CBC, key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7 to
32-byte blocks, plaintext = 16 random bytes | 4-byte big-endian length | msg | corp id,
signature = sha1 of the sorted concatenation of token, timestamp, nonce and ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from models.services.chat.wecom import (
    ORIGIN_EVENT,
    WeComCrypto,
    WeComCryptoError,
    WeComSignatureError,
    parse_kf_message,
    reply_window_refusal,
)

TOKEN = "QDG6eK"
CORP = "wx5823bf96d3bd56c7"
KEY = base64.b64encode(bytes(range(32))).decode()[:-1]  # 43 characters
PREFIX = b"0123456789abcdef"
STAMP = "1409659813"
NONCE = "1372623149"
INNER = (
    f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><CreateTime>1409659813</CreateTime>"
    "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[kf_msg_or_event]]></Event>"
    "<Token><![CDATA[ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR]]></Token>"
    "<OpenKfId><![CDATA[wkxxxxxxx]]></OpenKfId></xml>"
)


def spec_encrypt(plain: bytes) -> str:
    key = base64.b64decode(KEY + "=")
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def spec_plaintext(msg: str, corp: str = CORP) -> bytes:
    body = msg.encode("utf-8")
    plain = PREFIX + len(body).to_bytes(4, "big") + body + corp.encode()
    pad = 32 - len(plain) % 32
    return plain + bytes([pad]) * pad


def spec_signature(timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce, encrypted])).encode()).hexdigest()


def crypto(max_age_seconds: int = 300) -> WeComCrypto:
    """The receiver's crypto, with the spec vector's fixed random prefix."""
    return WeComCrypto(
        TOKEN, KEY, CORP, max_age_seconds=max_age_seconds, random_prefix=lambda: PREFIX
    )


def signed(encrypted: str) -> tuple[str, str, str, str]:
    return spec_signature(STAMP, NONCE, encrypted), STAMP, NONCE, encrypted


def test_known_vector_decrypts_and_encrypts_identically() -> None:
    msg = "客服 says hello: 你好"
    expected = spec_encrypt(spec_plaintext(msg))

    assert crypto().decrypt(*signed(expected)) == msg
    assert crypto().encrypt(msg, STAMP, NONCE) == (expected, spec_signature(STAMP, NONCE, expected))


@pytest.mark.parametrize("length", [0, 1, 11, 12, 43, 44, 500])
def test_round_trip_at_every_padding_length(length: int) -> None:
    """Plaintexts whose padding is 1 to 32 bytes (12 and 44 fill whole blocks: pad 32)."""
    sender = WeComCrypto(TOKEN, KEY, CORP)
    msg = "字" * (length // 3) + "x" * (length % 3)

    encrypted, signature = sender.encrypt(msg, STAMP, NONCE)

    assert sender.decrypt(signature, STAMP, NONCE, encrypted) == msg


def test_the_random_prefix_is_random_by_default() -> None:
    sender = WeComCrypto(TOKEN, KEY, CORP)
    assert sender.encrypt("same", STAMP, NONCE)[0] != sender.encrypt("same", STAMP, NONCE)[0]


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0" * 40},
        {"nonce": "1372623150"},
        {"timestamp": "1409659814"},
    ],
)
def test_a_signature_that_does_not_match_is_refused(change: dict[str, str]) -> None:
    encrypted, signature = crypto().encrypt("hi", STAMP, NONCE)
    args = {"signature": signature, "timestamp": STAMP, "nonce": NONCE} | change

    with pytest.raises(WeComSignatureError, match="does not match"):
        crypto().decrypt(args["signature"], args["timestamp"], args["nonce"], encrypted)


def test_a_signature_with_non_ascii_characters_is_refused_not_a_crash() -> None:
    encrypted, _ = crypto().encrypt("hi", STAMP, NONCE)
    with pytest.raises(WeComSignatureError):
        crypto().decrypt("签名" * 20, STAMP, NONCE, encrypted)


def test_a_message_for_another_corp_is_refused() -> None:
    other = spec_encrypt(spec_plaintext("hi", corp="wwanothercorp00000"))

    with pytest.raises(WeComCryptoError, match="receive id") as caught:
        crypto().decrypt(*signed(other))
    assert not isinstance(caught.value, WeComSignatureError)


@pytest.mark.parametrize(
    "key",
    [
        KEY[:-1],  # 42 characters
        KEY + "A",  # 44 characters
        "!" * 43,  # not base64
        "",
    ],
)
def test_a_bad_encoding_aes_key_is_refused(key: str) -> None:
    with pytest.raises(WeComCryptoError, match="EncodingAESKey") as caught:
        WeComCrypto(TOKEN, key, CORP)
    assert isinstance(caught.value, ValueError)


def test_a_tampered_ciphertext_is_refused_as_a_crypto_error() -> None:
    raw = bytearray(base64.b64decode(spec_encrypt(spec_plaintext("pay 100 yuan"))))
    # CBC carries a flipped bit of one block into the same bit of the next block's plaintext:
    # here, one of the 14 padding bytes.
    raw[-20] ^= 0x01
    tampered = base64.b64encode(bytes(raw)).decode()

    with pytest.raises(WeComCryptoError, match="padding"):
        crypto().decrypt(*signed(tampered))


@pytest.mark.parametrize(
    ("plain", "reason"),
    [
        (PREFIX + b"\x00" * 16, "padding"),  # pad byte 0
        (PREFIX + b"\x00" * 15 + b"\x21", "padding"),  # pad byte 33 > block size
        (PREFIX + b"\x00" * 14 + b"\x01\x02", "padding"),  # pad bytes disagree
        (PREFIX + b"\x00\x00\x01\x00" + b"x" + bytes([11]) * 11, "length"),  # claims 256 bytes
        (PREFIX + b"\x00\x00" + bytes([14]) * 14, "too short"),
    ],
)
def test_a_malformed_plaintext_is_refused_with_a_reason(plain: bytes, reason: str) -> None:
    with pytest.raises(WeComCryptoError, match=reason):
        crypto().decrypt(*signed(spec_encrypt(plain)))


@pytest.mark.parametrize("encrypted", ["not base64!", base64.b64encode(b"x" * 17).decode(), ""])
def test_a_ciphertext_that_is_not_aes_blocks_is_refused(encrypted: str) -> None:
    with pytest.raises(WeComCryptoError):
        crypto().decrypt(*signed(encrypted))


def post_body(encrypted: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[]]></AgentID></xml>"
    ).encode()


def test_a_callback_post_is_decrypted_to_its_fields() -> None:
    encrypted, signature = crypto().encrypt(INNER, STAMP, NONCE)

    fields = crypto().decrypt_post(signature, STAMP, NONCE, post_body(encrypted))

    assert fields == {
        "ToUserName": CORP,
        "CreateTime": "1409659813",
        "MsgType": "event",
        "Event": "kf_msg_or_event",
        "Token": "ENCApHxnGDNAVNY4AaSJKj4Tb5mwsEMzxhFmHVGcra996NR",
        "OpenKfId": "wkxxxxxxx",
    }


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;">]>'
    "<xml><Encrypt>&b;</Encrypt></xml>"
)


def test_an_outer_body_with_a_doctype_is_refused() -> None:
    with pytest.raises(WeComCryptoError, match="DOCTYPE"):
        crypto().decrypt_post("0" * 40, STAMP, NONCE, LAUGHS.encode())


def test_an_inner_message_with_a_doctype_is_refused() -> None:
    """Even correctly signed and encrypted: the entity never expands."""
    encrypted, signature = crypto().encrypt(LAUGHS, STAMP, NONCE)

    with pytest.raises(WeComCryptoError, match="DOCTYPE"):
        crypto().decrypt_post(signature, STAMP, NONCE, post_body(encrypted))


@pytest.mark.parametrize(
    "body",
    [b"<xml><ToUserName>x</ToUserName></xml>", b"<xml><Encrypt>", b"\xff\xfe<xml/>"],
)
def test_a_callback_body_without_a_readable_encrypt_is_refused(body: bytes) -> None:
    with pytest.raises(WeComCryptoError):
        crypto().decrypt_post("0" * 40, STAMP, NONCE, body)


def test_url_verification_returns_the_decrypted_echostr() -> None:
    echostr, signature = crypto().encrypt("4536287152906307485", STAMP, NONCE)

    assert crypto().verify_url(signature, STAMP, NONCE, echostr) == "4536287152906307485"
    with pytest.raises(WeComSignatureError):
        crypto().verify_url(signature, STAMP, "other-nonce", echostr)


def test_a_stale_timestamp_is_refused_only_when_now_is_given() -> None:
    encrypted, signature = crypto().encrypt("hi", STAMP, NONCE)
    sent = int(STAMP)

    assert crypto().decrypt(signature, STAMP, NONCE, encrypted) == "hi"
    assert crypto().decrypt(signature, STAMP, NONCE, encrypted, now=sent + 300) == "hi"
    with pytest.raises(WeComSignatureError, match="replay"):
        crypto().decrypt(signature, STAMP, NONCE, encrypted, now=sent + 301)
    with pytest.raises(WeComSignatureError, match="replay"):
        crypto().decrypt(signature, STAMP, NONCE, encrypted, now=sent - 301)
    assert crypto(max_age_seconds=600).decrypt(
        signature, STAMP, NONCE, encrypted, now=sent + 500
    ) == ("hi")


def test_a_timestamp_that_is_not_a_number_is_refused_when_checked() -> None:
    encrypted, signature = crypto().encrypt("hi", "yesterday", NONCE)
    with pytest.raises(WeComSignatureError, match="not a number"):
        crypto().decrypt(signature, "yesterday", NONCE, encrypted, now=1409659813.0)


# ---- the reply rule

LAST = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("after", "sent", "refused"),
    [
        (timedelta(minutes=1), 0, None),
        (timedelta(hours=48), 4, None),
        (timedelta(hours=48, seconds=1), 0, "48 hours"),
        (timedelta(hours=1), 5, "at most 5"),
        (timedelta(hours=1), 7, "at most 5"),
    ],
)
def test_the_reply_window(after: timedelta, sent: int, refused: str | None) -> None:
    reason = reply_window_refusal(LAST, LAST + after, sent)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


# ---- sync_msg items


def test_an_event_item_takes_its_customer_from_the_event() -> None:
    message = parse_kf_message(
        {
            "msgid": "m1",
            "send_time": 1615478585,
            "origin": 4,
            "msgtype": "event",
            "event": {
                "event_type": "enter_session",
                "open_kfid": "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw",
                "external_userid": "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw",
                "scene": "123",
            },
        }
    )

    assert message.origin == ORIGIN_EVENT and not message.from_customer
    assert message.event_type == "enter_session"
    assert message.external_userid == "wmAJ2GCAAAme1XQRC-NI-q0_ZM9ukoAw"
    assert message.open_kfid == "wkAJ2GCAAAZSfhHCt7IFSvLKtMPxyJTw"
    assert message.send_time == datetime(2021, 3, 11, 16, 3, 5, tzinfo=UTC)
    assert message.text is None and message.media_id is None
