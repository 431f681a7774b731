"""Normalization and tokenization: what gets masked, and how Chinese and English are split."""

import pytest

from triage.embedder import _light
from triage.text import (
    drop_handles,
    drop_salutations,
    latin_share,
    mask_redactions,
    normalize,
    stem,
    tokenize,
    without_names,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("订单号ORD-2023-11-0042还没发货", "订单号 <id> 还没发货"),
        ("电话13812345678", "电话 <phone>"),
        ("call (555) 123-4567 now", "call <phone> now"),
        ("mail a.b+c@example.co.uk", "mail <email>"),
        ("see https://kefu.example/help?x=1 please", "see <url> please"),
        ("bought on 2024-05-01", "bought on <date>"),
        ("2024年5月1日买的", "<date> 买的"),
        ("paid $1,299.00 twice", "paid $ <num> twice"),
        ("ＡＢＣ　全角１２３", "abc 全角 <num>"),
        ("Error  E1234\n\tagain", "error <id> again"),
        ("tracking 9400111202555842", "tracking <id>"),
    ],
)
def test_normalize_masks_identifiers(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@京东客服 我的订单还没到", "我的订单还没到"),
        ("回复@小米客服:手机屏幕碎了", "回复 :手机屏幕碎了"),
        ("//@顺丰速运: 快递丢了 @中国移动10086 怎么办", "// : 快递丢了 怎么办"),
        ("#机票# @飞猪 登机牌加载不出来[怒]", "#机票# 登机牌加载不出来[怒]"),
        ("@AmazonHelp my order never arrived", "my order never arrived"),
        ("@AmazonHelp，我的订单", ",我的订单"),
        ("@Delta_Assist!! refund please", "!! refund please"),
        # not a handle: an e-mail address, "@" for "at", a mention run into the message
        ("write to help@example.com", "write to <email>"),
        ("price @ 5 dollars", "price @ <num> dollars"),
        ("@京东客服我的订单没到", "@京东客服我的订单没到"),
        ("快递丢了 @顺丰速运", "快递丢了 @顺丰速运"),
    ],
)
def test_normalize_drops_social_media_handles(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_the_multilingual_embedders_text_drops_handles_too() -> None:
    """e5 reads text without the masks (``_light``), but not the accounts addressed."""
    assert _light("@京东客服  我的订单还没到") == _light("我的订单还没到") == "我的订单还没到"
    assert _light("@AmazonHelp Where is my REFUND?") == "Where is my REFUND?"
    assert drop_handles("mail me at zhang@qq.com") == "mail me at zhang@qq.com"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # read as the value they hide would be read
        ("cancel order {{Order Number}} now", "cancel order <id> now"),
        ("refund of {{Currency Symbol}}{{Refund Amount}}", "refund of <num>"),
        ("call {{Customer Support Phone Number}}", "call <phone>"),
        ("write to <EMAIL_ADDRESS> or <PHONE_NUMBER>", "write to <email> or <phone>"),
        ("since <DATE_TIME>, card <CREDIT_CARD>", "since <date> , card <id>"),
        ("my [account number] is locked", "my <id> is locked"),
        ("card ending XXXX on XX/XX/XXXX", "card ending <num> on <num>"),
        ("card ****1234 declined", "card <id> declined"),
        ("买了[数字x]台，[时间x]下的单", "买了 <num> 台, <date> 下的单"),
        ("订单[ORDERID_10012]没发货", "订单 <id> 没发货"),
        ("退[金额x]元到[电话x]", "退 <num> 元到 <phone>"),
        # a name, an address, an unnamed redaction: nothing
        ("I am {{Person Name}} from <LOCATION>", "i am from"),
        ("我叫[姓名x]，住[地址x]", "我叫 ,住"),
        ("this is [REDACTED] speaking", "this is speaking"),
        ("{{Account Type}} plan", "plan"),
        # brackets and angle brackets that name no kind of value are the customer's words
        ("[URGENT] login fails", "[urgent] login fails"),
        ("登机牌加载不出来[怒]", "登机牌加载不出来[怒]"),
        ("see [1] and <B>this</B>", "see [ <num> ] and <b>this</b>"),
        ("I paid [paid] twice", "i paid [paid] twice"),
    ],
)
def test_normalize_reads_a_redaction_as_the_value_it_hides(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_a_redacted_text_reads_as_the_text_with_its_values() -> None:
    assert normalize("Order {{Order Number}}: call {{Phone Number}}") == normalize(
        "Order 4567123: call 555-123-4567"
    )
    assert normalize("订单[ORDERID_10012]，手机<PHONE_NUMBER>") == normalize(
        "订单10012345，手机13812345678"
    )


def test_the_multilingual_embedders_text_masks_redactions_too() -> None:
    assert _light("我叫[姓名x]，订单{{订单号}}没到") == "我叫 ,订单 <id> 没到"
    assert mask_redactions("no redaction [here]") == "no redaction [here]"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hi,\n\nmy order never came\n\nThanks,\nJohn", "my order never came"),
        ("Dear Sir or Madam,\n\nCan I return it?\n\nThank you for your help.", "Can I return it?"),
        (
            "Hello,\nwhere is my refund?\nKind regards,\nAmy Lee\nBuyer, Acme Ltd.\n\n"
            "Sent from my iPhone",
            "where is my refund?",
        ),
        ("您好：\n\n我的订单还没到\n\n谢谢！\n张伟\n发自我的华为手机", "我的订单还没到"),
        ("京东客服您好！\n手机屏幕碎了\n麻烦了，谢谢", "手机屏幕碎了"),
        ("Hi,\nthe app crashes\n\nRegards, Carlos", "the app crashes"),
        ("the app crashes\nAppreciate it.\nTom", "the app crashes"),
        (
            "the app crashes\nThanks, but the fix did not help",
            "the app crashes\nThanks, but the fix did not help",
        ),
        ("尊敬的客服：\n发票开错了\n此致\n敬礼", "发票开错了"),
        # content stays: on the greeting's line, after "thanks", in a long or asking "signature"
        ("Dear team, my order is lost\nthanks", "Dear team, my order is lost"),
        ("您好，退款呢\n谢谢", "您好，退款呢"),
        ("Thanks,\nbut it still does not work?", "Thanks,\nbut it still does not work?"),
        (
            "It broke.\nThanks\nAlso, can you send a new charger?",
            "It broke.\nThanks\nAlso, can you send a new charger?",
        ),
        # a one-line message, or one that would be left empty, is kept
        ("my order never came, thanks", "my order never came, thanks"),
        ("hi\nthanks", "hi\nthanks"),
    ],
)
def test_drop_salutations_keeps_the_request(raw: str, expected: str) -> None:
    assert drop_salutations(raw) == expected


def test_a_letter_reads_as_its_request() -> None:
    letter = "Hi team,\n\nMy refund has not arrived.\n\nBest regards,\nMaria\n\nSent from my iPhone"
    assert normalize(letter) == normalize("My refund has not arrived.")
    assert _light("您好：\n退款还没到账\n谢谢\n发自我的iPhone") == "退款还没到账"


def test_normalize_is_idempotent() -> None:
    raw = "Order #A1234567, call +1 555 123 4567, 退款¥199 on 2024-05-01 http://x.io"
    once = normalize(raw)
    assert normalize(once) == once


def test_different_identifiers_normalize_identically() -> None:
    a = "My order 1122334455 to 13912345678 for ¥88 has not arrived"
    b = "My order 9988776655 to 15800001111 for ¥1,024 has not arrived"
    assert normalize(a) == normalize(b)


def test_tokenize_chinese_gives_unigrams_and_bigrams() -> None:
    assert tokenize("退款失败") == ["退", "款", "失", "败", "退款", "款失", "失败"]


def test_tokenize_mixed_text_keeps_placeholders_and_stems() -> None:
    assert tokenize("Refunds for order A1234567 退货") == [
        "refund",
        "for",
        "order",
        "<id>",
        "退",
        "货",
        "退货",
    ]
    assert tokenize("退货 refund", cjk=False) == ["refund"]


@pytest.mark.parametrize(
    "forms",
    [
        ("refund", "refunds", "refunded", "refunding"),
        ("ship", "ships", "shipped", "shipping"),
        ("charge", "charges", "charged", "charging"),
        ("reply", "replies", "replied"),
    ],
)
def test_stem_conflates_inflections(forms: tuple[str, ...]) -> None:
    assert len({stem(f) for f in forms}) == 1


def test_latin_share_separates_scripts_and_ignores_identifiers() -> None:
    assert latin_share("My order has not arrived") == 1.0
    assert latin_share("我的订单还没到") == 0.0
    assert latin_share("订单ORD-2023-11-0042还没到") == latin_share("订单还没到") == 0.0
    assert latin_share("12345") == 1.0


@pytest.mark.parametrize(
    ("text", "share"),
    [
        # A product name or a chat word in Latin script beside a Chinese sentence is read with it.
        ("买的iPhone 14 Pro Max，屏幕碎了", 0.0),
        ("Nike Air Max 270 鞋底开胶了，能换吗", 0.0),
        ("hello，这个东西什么时候到", 0.0),
        ("PLUS会员，运费券怎么用不了", 0.0),
        ("iPhone 14 Pro Max 屏幕碎了能换吗", 0.0),
        # A Chinese name beside an English sentence is read with it.
        ("Hi, this is 王伟. My parcel is two days late", 1.0),
        ("I want to return the jacket (李娜)", 1.0),
    ],
)
def test_a_few_words_beside_a_text_in_another_script_are_read_with_it(
    text: str, share: float
) -> None:
    assert latin_share(text) == share


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("买的iPhone 14 Pro Max，屏幕碎了", "买的 ,屏幕碎了"),
        ("Hi, this is 王伟. My parcel is late", "hi, this is  . my parcel is late"),
        # One script, or two at length, or two short ones: unchanged.
        ("订单123还没到", "订单 <num> 还没到"),
        ("APP闪退了", "app闪退了"),
        ("我想退货 please help me return this", "我想退货 please help me return this"),
    ],
)
def test_the_character_features_leave_out_a_name_in_the_other_script(text: str, read: str) -> None:
    assert without_names(normalize(text)) == read


def test_two_languages_written_at_length_both_count() -> None:
    """Code-switching at length is not a name: each script keeps its share."""
    assert 0.3 < latin_share("我想退货 please tell me how to send it back") < 0.9
    assert latin_share("Please help, 我的快递三天了还没到") == 0.0  # a short phrase is read with it
    # Neither run is long: by letters and characters.
    assert latin_share("APP闪退了") == pytest.approx(3 / (3 + 2 * 3))
    assert 0.5 < latin_share("Hi, this is 王伟. refund status") < 1.0


def test_chinese_query_is_segmented_into_words() -> None:
    from triage.text import words

    assert words("我的退款申请为什么还没有到账？")[:3] == ["我", "的", "退款"]
    tokens = words("登录失败，订单ORD-2024-0042查不到 refunds")
    assert "登录" in tokens and "失败" in tokens
    assert "<id>" in tokens and "refund" in tokens
    assert all(len(t) > 0 and not t.isspace() for t in tokens)
