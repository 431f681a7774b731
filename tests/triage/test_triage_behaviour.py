"""Behavioural tests of the classifier trained on the bootstrap corpus (lexical features only,
but for the terse chat messages, checked on lexical + MiniLM as the worker trains it).

Minimum functionality: clear-cut inquiries of every type, in Chinese and English, none of them
copied from the training data. Invariance: names, numbers and identifiers do not change the
type. Direction: adding a demand for accountability moves a fault report towards complaint.
"""

import re

import pytest

from tests.triage.script_support import script_vectors
from triage import CATEGORIES
from triage.embedder import Embedder
from triage.predict import Prediction, predict
from triage.text import latin_share
from triage.train import TrainedModel

CLEAR_CUT = [
    # Chinese
    ("请问你们的会员年费是多少？学生有优惠吗", "consultation"),
    ("你们周末营业吗？一般几点关门", "consultation"),
    ("想问一下国际快递到日本大概要几天", "consultation"),
    ("APP一打开就闪退，重装了也没用", "problem"),
    ("登录一直提示密码错误，可是密码肯定没输错", "problem"),
    ("付款时页面卡住，然后提示支付失败", "problem"),
    ("你们客服态度太差了，我要投诉，必须给我道歉并赔偿", "complaint"),
    ("问题拖了一个月都没人管，再不解决我就打12315投诉你们", "complaint"),
    ("服务太恶心了，叫你们经理出来给个说法，不然我就去网上曝光", "complaint"),
    ("刚收到的耳机左边没有声音，我要换一个新的", "after_sales"),
    ("买的外套尺码不合适，想申请退货退款", "after_sales"),
    ("洗衣机还在保修期内就坏了，麻烦安排师傅上门维修", "after_sales"),
    # English
    ("What is the difference between the basic and the premium plan?", "consultation"),
    ("Do you ship to Canada, and how much does shipping cost?", "consultation"),
    ("Are you open on public holidays, and until what time?", "consultation"),
    ("The app crashes every time I open the settings page.", "problem"),
    ("I can't log in, it keeps saying invalid password even after a reset.", "problem"),
    ("Checkout keeps failing with an error when I try to pay.", "problem"),
    (
        "Your support has ignored me for three weeks. This is unacceptable, I demand compensation.",
        "complaint",
    ),
    ("I want to file a formal complaint about the rude agent and speak to a manager.", "complaint"),
    (
        "Worst service I have ever had. Apologise or I will report you to the regulator.",
        "complaint",
    ),
    ("The blender I bought last week arrived cracked, I would like a replacement.", "after_sales"),
    ("These shoes are too small, I want to return them and get my money back.", "after_sales"),
    ("My laptop is still under warranty and the screen died, can you repair it?", "after_sales"),
]


@pytest.mark.parametrize(("text", "expected"), CLEAR_CUT)
def test_clear_cut_cases(lexical_model: TrainedModel, text: str, expected: str) -> None:
    (prediction,) = predict(lexical_model, [text])
    assert prediction.category == expected, prediction.probabilities


def test_prediction_shape(lexical_model: TrainedModel) -> None:
    predictions = predict(lexical_model, ["退款什么时候到账", "app crashes"])
    assert len(predictions) == 2
    for p in predictions:
        assert list(p.probabilities) == list(CATEGORIES)
        assert sum(p.probabilities.values()) == pytest.approx(1.0)
        assert p.confidence == max(p.probabilities.values())
        assert p.probabilities[p.category] == p.confidence
    assert predict(lexical_model, []) == []


NUMBER_VARIANTS = [
    (
        "订单ORD-2023-11-0042已经付款3天了还没发货，我的电话13812345678",
        "订单JD-7788-5566-01已经付款15天了还没发货，我的电话15900001111",
    ),
    (
        "I was charged $49.99 twice for order #A1234567 on 2024-05-01, call me at 555-123-4567",
        "I was charged $1,250.00 twice for order #ZX99887766 on 2023-12-31, call me at "
        "(212) 555-0199",
    ),
    (
        "Error E1234 when syncing, see https://status.example.com or mail bob@corp.com",
        "Error 0x80070005 when syncing, see http://help.other.org/x or mail li.na@qq.com",
    ),
]


@pytest.mark.parametrize(("a", "b"), NUMBER_VARIANTS)
def test_invariant_to_numbers_and_identifiers(lexical_model: TrainedModel, a: str, b: str) -> None:
    pa, pb = predict(lexical_model, [a, b])
    assert pa.category == pb.category
    assert pa.probabilities == pytest.approx(pb.probabilities, abs=1e-9)


NAME_VARIANTS = [
    [
        f"您好，我是{name}，上周买的冰箱不制冷了，想申请上门维修"
        for name in ("张伟", "欧阳娜娜", "王建国")
    ],
    [
        f"Hi, this is {name}. I can't reset my password, the link says it expired."
        for name in ("John Smith", "Priya Natarajan", "Zhang Wei")
    ],
    [
        f"{name}在这里说一句：你们的客服态度恶劣，我要投诉并要求赔偿"
        for name in ("李娜", "陈思思", "赵大海")
    ],
]


@pytest.mark.parametrize("variants", NAME_VARIANTS)
def test_invariant_to_personal_names(lexical_model: TrainedModel, variants: list[str]) -> None:
    predictions = predict(lexical_model, variants)
    assert len({p.category for p in predictions}) == 1
    for p in predictions[1:]:
        for c in CATEGORIES:
            assert abs(p.probabilities[c] - predictions[0].probabilities[c]) < 0.15


@pytest.mark.parametrize(
    ("fault", "escalated"),
    [
        ("我的宽带断了一整天", "我的宽带断了一整天，你们必须赔偿损失，否则我向工信部投诉"),
        (
            "The app keeps logging me out.",
            "The app keeps logging me out. This is unacceptable, I demand compensation and an "
            "apology from a manager.",
        ),
    ],
)
def test_demanding_accountability_moves_towards_complaint(
    lexical_model: TrainedModel, fault: str, escalated: str
) -> None:
    before, after = predict(lexical_model, [fault, escalated])
    assert before.category == "problem"
    assert after.category == "complaint"
    assert after.probabilities["complaint"] > before.probabilities["complaint"] + 0.3


def test_validation_metrics_are_stored(lexical_model: TrainedModel, bootstrap: list) -> None:
    assert lexical_model.n_train == len(bootstrap)
    assert lexical_model.metrics["n"] == lexical_model.n_validation > 0
    assert lexical_model.metrics["macro_f1"] > 0.8
    assert lexical_model.embedder_name is None


# --- issue 17: own-order questions, polite fault reports, politeness invariance ---------------
# Written for these tests (GUIDELINE.md, "Decisions for the hard cases"); none of them is a
# generator template or a bootstrap row.

OWN_ORDER_QUESTIONS = [
    "How can I find out where my refund is at the moment?",
    "what do i need to do to change the delivery day for the sofa i ordered",
    "Could you let me know when the parcel I ordered on Friday is going to turn up?",
    "How do I get the receipt for the headphones I bought last month?",
    "I'd like to know how to cancel the table booking I made for Saturday.",
    "is it possible to swap the trainers from my last order for a bigger size",
]


@pytest.mark.parametrize("text", OWN_ORDER_QUESTIONS)
def test_questions_about_own_existing_order_are_after_sales(
    lexical_model: TrainedModel, text: str
) -> None:
    (prediction,) = predict(lexical_model, [text])
    assert prediction.category == "after_sales", prediction.probabilities


POLITE_FAULTS = [
    "How can I get my password back? I'm locked out and the reset mail never comes.",
    "Could you kindly tell me why my card is refused every time I try to pay?",
    "Sorry to bother you, what should I do if the app shuts down right after I open it?",
    "Would you mind checking why I can't sign in to my account since this morning?",
    "Hello, how do I fix the error message that appears when I upload my documents?",
]


@pytest.mark.parametrize("text", POLITE_FAULTS)
def test_faults_asked_politely_are_problems(lexical_model: TrainedModel, text: str) -> None:
    (prediction,) = predict(lexical_model, [text])
    assert prediction.category == "problem", prediction.probabilities


# (own existing thing -> after-sales, the same topic asked in general -> consultation)
OWN_VERSUS_GENERAL = [
    (
        "How do I see how long my refund for order 5521 will still take?",
        "How long do refunds normally take?",
    ),
    (
        "I placed an order yesterday, how do I change the delivery address on it?",
        "Is it possible to change the delivery address after ordering?",
    ),
    (
        "How can I cancel my subscription before it renews next week?",
        "What is your policy for cancelling a subscription?",
    ),
]


@pytest.mark.parametrize(("own", "general"), OWN_VERSUS_GENERAL)
def test_own_order_versus_general_policy(
    lexical_model: TrainedModel, own: str, general: str
) -> None:
    p_own, p_general = predict(lexical_model, [own, general])
    assert p_own.category == "after_sales", p_own.probabilities
    assert p_general.category == "consultation", p_general.probabilities


POLITENESS_WRAPPERS = [
    "{}",
    "Hi there, {} Thanks in advance!",
    "Good morning team. {} Kind regards, Emma",
    "hey {} thx",
    "Dear Sir or Madam,\n\n{}\n\nYours faithfully,\nRobert Brown",
]

WRAPPED_REQUESTS = [
    ("Do you offer a discount for annual billing?", "consultation"),
    ("The app freezes on the payment screen every time.", "problem"),
    ("Your engineer was rude to my mother and I want a formal apology.", "complaint"),
    ("The kettle I bought last week leaks, I'd like a replacement.", "after_sales"),
]


@pytest.mark.parametrize(("request_text", "expected"), WRAPPED_REQUESTS)
def test_invariant_to_greetings_and_sign_offs(
    lexical_model: TrainedModel, request_text: str, expected: str
) -> None:
    texts = [wrapper.format(request_text) for wrapper in POLITENESS_WRAPPERS]
    categories = [p.category for p in predict(lexical_model, texts)]
    assert categories == [expected] * len(texts)


@pytest.mark.parametrize(
    "fault",
    [
        "My internet has been down since Monday.",
        "How can I get back into my account? It says it is locked.",
        "The payment went through twice for the same order.",
    ],
)
def test_adding_a_compensation_demand_makes_a_fault_a_complaint(
    lexical_model: TrainedModel, fault: str
) -> None:
    escalated = f"{fault} This is the third time this month, I want compensation."
    before, after = predict(lexical_model, [fault, escalated])
    assert before.category == "problem", before.probabilities
    assert after.category == "complaint", after.probabilities


# The same request frame ("I need help …", "where can I …", "I'd like information about …")
# around requests of every type: the frame must not decide the type, the request does. Written
# for this test; none is a bootstrap row (the generator composes other frames and wordings).
FRAMED_REQUESTS = [
    ("Where can I report a problem with a payment?", "problem"),
    ("I want help reporting an issue with my payment", "problem"),
    ("I need assistance to recover access to my profile", "problem"),
    ("how can I let you know about an error at checkout?", "problem"),
    ("I want assistance with sending back a product", "after_sales"),
    ("I need help changing the shipping address on the order I placed", "after_sales"),
    ("I'd like information about checking the progress of my reimbursement", "after_sales"),
    ("I don't know what to do to cancel the purchase I made", "after_sales"),
    ("I need help putting in a complaint about the shop", "complaint"),
    ("where can I lodge a complaint about your staff?", "complaint"),
    ("I want to leave negative feedback about the service I got", "complaint"),
    ("I'd like information about your payment options", "consultation"),
    ("I want to know about the cancellation fees", "consultation"),
    ("can you help me open an account?", "consultation"),
    ("I need help to find your opening hours", "consultation"),
]


@pytest.mark.parametrize(("text", "expected"), FRAMED_REQUESTS)
def test_request_frames_do_not_decide_the_type(
    lexical_model: TrainedModel, text: str, expected: str
) -> None:
    (prediction,) = predict(lexical_model, [text])
    assert prediction.category == expected, prediction.probabilities


# What people type into a chat box or a bot: a few words, lower case, misspelt. The type
# rules are the same as for sentences (a bare policy word is a consultation, a bare action on
# one's own order after-sales). Checked on the model the worker trains (lexical + MiniLM):
# before the terse bootstrap rows it called "scammers!!" a consultation and "fraud" a problem.
_TERSE_MISS = pytest.mark.xfail(strict=True, reason="known miss: a tracking number asked")
TERSE_MESSAGES = [
    ("delivery charges to leeds?", "consultation"),
    ("emi available?", "consultation"),
    ("whats the warranty", "consultation"),
    ("return policy?", "consultation"),
    ("otp never arrives", "problem"),
    ("payment keeps failing", "problem"),
    ("cant sign in since the update", "problem"),
    ("winnings not credited", "problem"),
    ("rubbish service", "complaint"),
    ("scammers!!", "complaint"),
    ("cheating app", "complaint"),
    ("fraud", "complaint"),
    ("useless support team, want a manager", "complaint"),
    ("refund still pending", "after_sales"),
    ("order hasnt come yet", "after_sales"),
    ("cancle the order i placed", "after_sales"),
    ("whats the status of order 5521", "after_sales"),
    ("运费多少", "consultation"),
    ("有没有现货", "consultation"),
    ("验证码收不到啊", "problem"),
    ("一直登录失败", "problem"),
    ("服务真垃圾", "complaint"),
    ("要投诉你们客服", "complaint"),
    ("退款还没到账呢", "after_sales"),
    ("帮我退了吧", "after_sales"),
    ("物流咋不动了", "after_sales"),
    pytest.param("单号多少", "after_sales", marks=_TERSE_MISS),
]


def _dense_prediction(
    model: TrainedModel, embedder: Embedder, e5: Embedder, text: str
) -> Prediction:
    """What the model the worker trains (lexical + MiniLM for Latin script + e5 for Chinese)
    says of ``text``, embedded as the worker embeds it."""
    (prediction,) = predict(model, [text], script_vectors(embedder, e5, [text]))
    return prediction


@pytest.mark.parametrize(("text", "expected"), TERSE_MESSAGES)
def test_terse_chat_messages(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder, text: str, expected: str
) -> None:
    prediction = _dense_prediction(shipped_model, embedder, e5, text)
    assert prediction.category == expected, prediction.probabilities


# Guideline G: what a customer holds at a bank, an insurer, a carrier (an account, a plan, a
# policy). Changing, closing, claiming on it or asking for its papers is after-sales; quotes,
# opening an account and one's own figures are consultation; a charge one never made is a
# problem. Checked on the model the worker trains: before the held-service bootstrap rows it
# called closing a savings account (zh), taking a son off a plan and a payment status
# something else (17 of 21 right). The chat-register cases were written with the
# chat-register rows (HELD_CHAT), which also settled the cheaper broadband move.
_HELD_MISS = pytest.mark.xfail(strict=True, reason="known miss: a payment status read as a fault")
HELD_SERVICES = [
    ("hello, could you shut down my savings account? I'm moving banks", "after_sales"),
    ("I need to put in a claim, a tree fell on my car last night", "after_sales"),
    ("please email me the last three statements for my business account", "after_sales"),
    ("we'd like to take our son off the family health plan", "after_sales"),
    pytest.param(
        "has the payment I made on Friday for my phone bill gone through?",
        "after_sales",
        marks=_HELD_MISS,
    ),
    ("can I move to the cheaper broadband package from next month?", "after_sales"),
    ("how much would home insurance cost for a two-bedroom flat?", "consultation"),
    ("what do I need to bring to open a business account?", "consultation"),
    ("how much is left to pay on my car loan?", "consultation"),
    ("is there a branch open on sundays near the station?", "consultation"),
    ("there's a payment to some app store on my card that I never made", "problem"),
    ("i forgot my password and the reset email never comes", "problem"),
    ("you put up my premium without a word, I want it reversed and an apology", "complaint"),
    ("我想把这张储蓄卡注销掉，钱转到别的银行", "after_sales"),
    ("车被追尾了，想走保险理赔", "after_sales"),
    ("麻烦把我的宽带套餐降到便宜点的", "after_sales"),
    ("把上季度的对账单发我一份", "after_sales"),
    ("开个对公账户要准备什么材料", "consultation"),
    ("你们网点周六几点关门", "consultation"),
    ("卡上有笔消费不是我刷的", "problem"),
    ("密码忘了，重置短信一直收不到", "problem"),
    # typed into a chat box (the chat-register rows, HELD_CHAT)
    ("lost my debit card somewhere in town, cancel it", "problem"),
    ("my visa got nicked on the train block it", "problem"),
    ("pls take off the 40 dollar charge on my statement i never bought that", "problem"),
    ("how much is in my checking rn", "consultation"),
    pytest.param(
        "need 2 seats to lisbon friday",
        "consultation",
        # 0.468 consultation / 0.474 after-sales: a coin toss it won narrowly until the
        # bootstrap rows that mix scripts were read by script (script_gated_lexical).
        marks=pytest.mark.xfail(strict=True, reason="known miss: new business read as a booking"),
    ),
    ("the screen on my tablet smashed can it be repaired", "after_sales"),
    ("swap me to a window seat pls", "after_sales"),
    ("moving flats next month want my broadband moved over", "after_sales"),
]


@pytest.mark.parametrize(("text", "expected"), HELD_SERVICES)
def test_accounts_plans_and_claims_the_customer_holds(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder, text: str, expected: str
) -> None:
    prediction = _dense_prediction(shipped_model, embedder, e5, text)
    assert prediction.category == expected, prediction.probabilities


# Guideline A: a delivery that has not arrived (late, stuck, "delivered" but not here) is the
# customer's own order, after-sales, in both languages; a broken tracking page is a problem,
# and a demand for compensation makes a complaint (rule 1). Checked on the model the worker
# trains: before the Chinese corpus followed this, its stuck and "signed for" parcels were
# problems.
DELIVERIES = [
    ("My parcel has said 'In transit' for 9 days", "after_sales"),
    ("the app says delivered but there's nothing at my door", "after_sales"),
    ("still waiting on my package, tracking hasn't moved since Monday", "after_sales"),
    ("the courier marked it delivered to a neighbour, nobody here has it", "after_sales"),
    ("包裹显示运输中已经9天了", "after_sales"),
    ("快递显示已签收，但我根本没收到", "after_sales"),
    ("外卖显示已送达，人没见到", "after_sales"),
    ("物流五天没更新了，帮忙催一下", "after_sales"),
    ("驿站说没有我的包裹，可是显示已经放驿站了", "after_sales"),
    ("The tracking page gives an error when I enter my number", "problem"),
    ("输入单号查物流，页面直接报错打不开", "problem"),
    ("my parcel is a week late and nobody answers, I want compensation", "complaint"),
    ("快递延误了一周，客服也不理，必须赔偿", "complaint"),
]


@pytest.mark.parametrize(("text", "expected"), DELIVERIES)
def test_a_delivery_that_has_not_arrived_is_after_sales(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder, text: str, expected: str
) -> None:
    prediction = _dense_prediction(shipped_model, embedder, e5, text)
    assert prediction.category == expected, prediction.probabilities


# Guideline A, as a shop's chat writes it: a turn about the order already placed (when it
# comes, a day to deliver it, a mistake made in it, a part missing) is after-sales also when
# "my order" is not written; the same question before ordering is a consultation, and a page
# that fails while changing the order a problem. Checked on the model the worker trains: before
# the own-order bootstrap rows it called 5 of these 17 something else (two reschedulings and
# "which day does it come" consultations, a missing part a problem); one is still missed.
_OWN_TURN_MISS = pytest.mark.xfail(
    strict=True, reason="known miss: a mistake in one's order asked as 'can it still be changed'"
)
OWN_ORDER_TURNS = [
    ("订单下了三天了，什么时候能到啊", "after_sales"),
    ("能不能周六再送，平时家里没人", "after_sales"),
    pytest.param("收货地址填错了，还能改吗", "after_sales", marks=_OWN_TURN_MISS),
    ("下单时尺码选错了，要换L码", "after_sales"),
    ("还没收到货呢", "after_sales"),
    ("到底哪天能送到", "after_sales"),
    ("东西到了少了个充电头", "after_sales"),
    ("一般下单后几天能送到", "consultation"),
    ("现在下单周末前能到吗", "consultation"),
    ("这款什么时候有货", "consultation"),
    ("下单以后能不能改地址", "consultation"),
    ("改地址的时候页面一直报错", "problem"),
    ("where's my order? it was due yesterday", "after_sales"),
    ("can you deliver it on saturday instead", "after_sales"),
    ("I put the wrong flat number on my order yesterday", "after_sales"),
    ("what's the usual delivery time for a sofa?", "consultation"),
    ("the page errors when I try to change my address", "problem"),
]


@pytest.mark.parametrize(("text", "expected"), OWN_ORDER_TURNS)
def test_a_turn_about_the_order_already_placed_is_after_sales(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder, text: str, expected: str
) -> None:
    prediction = _dense_prediction(shipped_model, embedder, e5, text)
    assert prediction.category == expected, prediction.probabilities


# The account a post addresses says nothing about its type: a brand's handle in front of each
# row took the worker's model from 0.756 to 0.745 on the hand-labelled JD.com turns and from
# 0.883 to 0.862 on the English service chats before handles were dropped
# (triage.text.drop_handles; bench/devdata/addressed.json).
ADDRESSED = [
    ("上周买的耳机左边没声音了，能换一个吗", ["@京东客服 {}", "@顺丰速运 @中国移动10086 {}"]),
    ("你们客服态度太差了，我要投诉", ["@中国联通客服 {}", "@携程旅行网  {}"]),
    (
        "my refund still hasn't arrived after two weeks",
        ["@AmazonHelp {}", "@SpotifyCares @Delta {}"],
    ),
    ("can I pay with a gift card?", ["@AskPayPal {}", "@comcastcares {}"]),
]


# A redacted value says nothing of a ticket's type either: with template, Presidio or bracketed
# redactions in place of the values of the dev rows that have one, accuracy fell by up to 0.10
# in English and 0.39 in Chinese before they were read as the values they hide
# (triage.text.mask_redactions; bench/devdata/redacted.json).
REDACTED = [
    (
        "I need to cancel order 4567123, call me at 555-123-4567",
        [
            "I need to cancel order {{Order Number}}, call me at {{Customer Support Phone Number}}",
            "I need to cancel order <ORDER_ID>, call me at <PHONE_NUMBER>",
            "I need to cancel order [order no], call me at [phone]",
        ],
    ),
    (
        "I was charged 45 dollars twice on 2024-05-01, card ending 4432",
        ["I was charged {{Amount}} dollars twice on {{Date}}, card ending XXXX"],
    ),
    (
        "我的订单12345678还没发货，电话13812345678",
        [
            "我的订单[ORDERID_10012]还没发货，电话[电话x]",
            "我的订单{{订单号}}还没发货，电话<PHONE_NUMBER>",
        ],
    ),
]


@pytest.mark.parametrize(("text", "redacted"), REDACTED)
def test_invariant_to_redacted_values(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder, text: str, redacted: list
) -> None:
    """English is read through the masks alone, so a redaction scores exactly as its value;
    e5 reads Chinese unmasked ("12345678" against "<id>"), so there only nearly."""
    plain = _dense_prediction(shipped_model, embedder, e5, text)
    exact = 1e-6 if latin_share(text) == 1.0 else 0.05
    first = _dense_prediction(shipped_model, embedder, e5, redacted[0])
    for variant in redacted:
        prediction = _dense_prediction(shipped_model, embedder, e5, variant)
        assert prediction.category == plain.category, variant
        assert prediction.probabilities == pytest.approx(plain.probabilities, abs=exact), variant
        assert prediction.probabilities == pytest.approx(first.probabilities, abs=1e-6), variant


def test_a_redacted_name_does_not_decide_the_type(
    shipped_model: TrainedModel, embedder: Embedder, e5: Embedder
) -> None:
    for text in (
        "my name is {{Person Name}} and I want to change my shipping address",
        "我叫[姓名x]，手机坏了要修",
    ):
        named = text.replace("{{Person Name}}", "John Smith").replace("[姓名x]", "张伟")
        assert (
            _dense_prediction(shipped_model, embedder, e5, text).category
            == _dense_prediction(shipped_model, embedder, e5, named).category
            == "after_sales"
        ), text


# Nor does a letter's frame: with a greeting and a closing around each dev row, the worker's
# model gave 5 to 12 % of the rows another type before the frame was dropped
# (triage.text.drop_salutations; bench/devdata/letters.json).
LETTERS = [
    (
        "the zip on the backpack I bought last week broke, can I exchange it?",
        [
            "Hi team,\n\n{}\n\nKind regards,\nTom Baker\nPurchasing Manager, Acme Ltd.",
            "Dear Customer Service,\n{}\nThanks in advance.\n\nSent from my iPhone",
        ],
    ),
    (
        "the app signs me out whenever I open the orders page",
        ["Hello,\n\n{}\n\nCheers,\nSam", "{}\n\nThank you for your help.\nAmy"],
    ),
    (
        "上周买的耳机左边没声音了，能换一个吗",
        ["您好：\n\n{}\n\n谢谢！\n张伟\n发自我的华为手机", "客服您好！\n{}\n麻烦了，谢谢"],
    ),
]


# Nor do a few words in the other script: a product name or a chat word in Latin script in a
# Chinese message, a Chinese name in an English one. With them, the worker's model gave 5 to
# 13 % of the Chinese dev rows another type before each script's features were weighed by its
# share of the text (triage.pipeline, script_gated_lexical; bench/devdata/mixed.json). e5 reads
# the name with the rest, so the probabilities move a little; the type does not.
MIXED_SCRIPTS = [
    (
        "刚收到的手机屏幕有一道划痕，能换一台吗",
        ["{}（iPhone 14 Pro Max）", "Galaxy S23 Ultra，{}", "hello，{}"],
    ),
    ("登录的时候一直提示验证码错误", ["{} thx", "PLUS会员，{}", "买的MacBook Air，{}"]),
    ("快递员态度恶劣还把东西扔在门口，我要投诉", ["{}，ok吗", "Nike Air Max 270，{}"]),
    (
        "my parcel was due on Monday and it still has not arrived",
        ["Hi, this is 王伟. {}", "{} (李娜)"],
    ),
]


@pytest.mark.parametrize(
    ("text", "frames", "tolerance"),
    [(*case, 1e-6) for case in ADDRESSED + LETTERS] + [(*case, 0.15) for case in MIXED_SCRIPTS],
)
def test_invariant_to_what_says_nothing_of_the_request(
    shipped_model: TrainedModel,
    embedder: Embedder,
    e5: Embedder,
    text: str,
    frames: list,
    tolerance: float,
) -> None:
    """The account addressed, a letter's frame, a name in another script: the same type, the
    same probabilities (a name e5 reads with the request moves them a little)."""
    plain = _dense_prediction(shipped_model, embedder, e5, text)
    for frame in frames:
        framed = _dense_prediction(shipped_model, embedder, e5, frame.format(text))
        assert framed.category == plain.category, (frame, framed.probabilities)
        assert framed.probabilities == pytest.approx(plain.probabilities, abs=tolerance), frame


def test_no_case_is_a_bootstrap_row(bootstrap: list) -> None:
    """The cases measure generalization only if the model never saw them: none may be a
    training row (compared with case, spacing and punctuation folded)."""

    def folded(text: str) -> str:
        return re.sub(r"\W+", " ", text.lower()).strip()

    seen = {folded(example.text) for example in bootstrap}
    cases = [text for text, _ in CLEAR_CUT + FRAMED_REQUESTS]
    cases += [
        getattr(case, "values", case)[0]
        for case in TERSE_MESSAGES + HELD_SERVICES + DELIVERIES + OWN_ORDER_TURNS
    ]
    cases += OWN_ORDER_QUESTIONS + POLITE_FAULTS
    cases += [text for text, _ in ADDRESSED + REDACTED + LETTERS + MIXED_SCRIPTS]
    cases += [text for pair in OWN_VERSUS_GENERAL for text in pair]
    assert [text for text in cases if folded(text) in seen] == []
