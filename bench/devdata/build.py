"""Build the development sets in triage/data/dev/ from public data written by others.

A dev-time tool, not run by CI. It reads snapshots of public repositories fetched beforehand
(bare git directories, default /work/.mirror/<owner>+<name>/repo) and writes JSONL files:

  cls_en.jsonl / cls_en_shop.jsonl / cls_en_service.jsonl / cls_zh.jsonl
      {"text", "category", "source"}
  cls_zh_audited.jsonl  the same sources' turns with hand labels (bench/devdata/audit_zh.json)
  kb_en.jsonl / queries_en.jsonl  {"id", "title", "body"} / {"query", "relevant_ids"}
  kb_zh.jsonl / queries_zh.jsonl  (same formats)

Sources and label mappings are documented in triage/data/SOURCES.md. Labels that come from a
keyword rule rather than from the source's own annotation carry ":kw" in "source".

Usage: python -m bench.devdata.build --out DIR [--mirrors DIR] [--seed N]

The reserved evaluation sets (Bitext, BANKING77, StackFAQ, BQ, ATEC/AFQMC, NTCIR STC-3/DCH-2,
SereTOD/MobileCS) are never read here.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import subprocess
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

MIRRORS = Path("/work/.mirror")
CAP_PER_TYPE_EN = 300
CAP_PER_TYPE_ZH = 250
# Sources of reviews rather than inquiries: used only to fill a type the inquiries leave thin.
REVIEW_SOURCES = ("waimai_10k",)

# CLINC150 intents that are customer-service requests with a clear type under the guideline.
# Intents that fit no type cleanly (small talk, assistant commands, …) are left out.
CLINC_MAP: dict[str, str] = {
    # information before acting: how something works, prices, policies
    "interest_rate": "consultation",
    "apr": "consultation",
    "international_fees": "consultation",
    "replacement_card_duration": "consultation",
    "credit_limit": "consultation",
    "redeem_rewards": "consultation",
    "carry_on": "consultation",
    "routing": "consultation",
    # something that should work does not; wants it fixed
    "card_declined": "problem",
    "account_blocked": "problem",
    "report_fraud": "problem",
    "report_lost_card": "problem",
    "damaged_card": "problem",
    "lost_luggage": "problem",
}

EN_COMPLAINT = re.compile(
    r"\b(worst|terrible|awful|disgust\w*|appall\w*|pathetic|unacceptable|disgrace\w*|rude|"
    r"useless|shocking|ridiculous|shame\w*|never again|complain\w*|compensat\w*|apolog\w*|"
    r"manager|ombudsman|outrage\w*|fuming|furious|poor service|customer service)\b",
    re.I,
)
EN_AFTER_SALES = re.compile(
    r"\b(return(ed|ing)?|refund(ed)?|exchange|replace(ment)?|warranty|repair(ed|s)?|faulty|"
    r"broken|damaged|defective)\b",
    re.I,
)
EN_POLICY_QUESTION = re.compile(
    r"\b(can i|could i|do you|how (do|can|long)|is it possible|what is|what's)\b", re.I
)
EN_PROBLEM = re.compile(
    r"(not working|n't work|does not work|won't|can't|cannot|unable|error|crash\w*|\bdown\b|"
    r"outage|\bfail\w*|\bissue|problem|not received|hasn't arrived|still waiting|missing|"
    r"wrong|stuck|no signal|no service|lost)",
    re.I,
)
EN_QUESTION = re.compile(
    r"(\?|^\s*(can|could|do|does|is|are|what|when|where|how|which|why|will|would)\b)", re.I
)

ZH_COMPLAINT = re.compile(
    r"投诉|差评|态度(差|不好|恶劣)|赔偿|曝光|12315|消协|工商局|举报|垃圾|骗子|欺骗|坑人|什么破|忽悠|服务太差"
)
ZH_AFTER_SALES = re.compile(
    r"退货|换货|退款|维修|保修|售后|发票|退回|返修|补发|换新|质量问题|三包|退换"
)
ZH_PROBLEM = re.compile(
    r"没收到|未收到|收不到|无法|失败|打不开|不能用|用不了|坏了|错了|少了|漏发|发错|破损|不显示|登不上|"
    r"登录不|支付不了|扣款|没到|还没到|不动|一直没|报错|没反应|不工作"
)
ZH_CONSULTATION = re.compile(
    r"请问|怎么|能不能|可以吗|多少钱|有货吗|什么时候|多久|是否|有没有|哪个|如何"
)
# Turns written by the agent in the JDDC logs (the files do not mark the speaker).
ZH_AGENT = re.compile(r"您|亲|妹子|小妹|为您|稍等|感谢|抱歉|~|请问还有|祝您|客户|哦|呢|京东介入")
ZH_NOISE = re.compile(r"#E-s\[数字x\]|#E-\w+")


def git_show(mirrors: Path, repo: str, path: str) -> bytes:
    """The bytes of `path` at HEAD in the fetched snapshot of `repo` ("owner/name")."""
    git_dir = mirrors / repo.replace("/", "+") / "repo"
    if (git_dir / ".git").is_dir():
        git_dir = git_dir / ".git"
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def norm(text: str) -> str:
    """Whitespace-collapsed NFKC text (dedup key base)."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def dedup_key(text: str) -> str:
    return re.sub(r"\W+", "", norm(text).lower())


def clinc_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    data = json.loads(git_show(mirrors, "clinc/oos-eval", "data/data_full.json"))
    for split in ("val", "test"):
        for text, intent in data[split]:
            if intent in CLINC_MAP:
                yield {"text": text, "category": CLINC_MAP[intent], "source": f"clinc150:{intent}"}


def tweet_type(text: str, is_complaint: bool) -> str | None:
    """Guideline type of a customer tweet by keyword rules (priority per the guideline)."""
    body = re.sub(r"@\w+", " ", text)
    if is_complaint and EN_COMPLAINT.search(body):
        return "complaint"
    if EN_AFTER_SALES.search(body) and not EN_POLICY_QUESTION.search(body):
        return "after_sales"
    if EN_PROBLEM.search(body):
        return "problem"
    if not is_complaint and EN_QUESTION.search(body):
        return "consultation"
    return None


def complaint_tweet_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    raw = git_show(mirrors, "danielpreotiuc/complaints-social-media", "complaints-data.csv")
    for row in csv.reader(io.StringIO(raw.decode("utf-8"))):
        if len(row) < 4:
            continue
        _, text, label, domain = row[:4]
        text = re.sub(r"https?://\S+", "", text)
        text = norm(re.sub(r"@\w+", "", text))
        if domain == "random_tweet" or len(text) < 20:
            continue
        kind = tweet_type(text, label.strip() == "1")
        if kind:
            yield {"text": text, "category": kind, "source": f"complaints-tweets:{domain}:kw"}


def abcd_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    """First customer turn of the ABCD sample dialogues (flow/subflow label from ABCD)."""
    flow_map = {"product_defect": "after_sales", "shipping_issue": "problem"}
    for convo in json.loads(git_show(mirrors, "asappresearch/abcd", "data/abcd_sample.json")):
        flow = convo["scenario"]["flow"]
        if flow not in flow_map:
            continue
        turns = [t for s, t in convo["original"] if s == "customer" and len(t) > 15]
        if turns:
            yield {
                "text": norm(turns[0]),
                "category": flow_map[flow],
                "source": f"abcd:{flow}/{convo['scenario']['subflow']}",
            }


# HINT3 (Haptik): real users' messages to three companies' chatbots, annotated with the bot's
# intents. Each intent is typed by the guideline; intents that mix types or are not requests
# (greetings, "talk to an agent", lead capture, COVID delivery pauses) are left out.
HINT3_MAP: dict[str, dict[str, str]] = {
    "sofmattress": {
        **dict.fromkeys(
            [
                "DISTRIBUTORS",
                "EMI",
                "MATTRESS_COST",
                "PRODUCT_VARIANTS",
                "WHAT_SIZE_TO_ORDER",
                "100_NIGHT_TRIAL_OFFER",
                "ORTHO_FEATURES",
                "COD",
                "ERGO_FEATURES",
                "COMPARISON",
                "ABOUT_SOF_MATTRESS",
                "CHECK_PINCODE",
                "PILLOWS",
                "OFFERS",
                "SIZE_CUSTOMIZATION",
                "WARRANTY",
            ],
            "consultation",
        ),
        **dict.fromkeys(
            ["ORDER_STATUS", "CANCEL_ORDER", "DELAY_IN_DELIVERY", "RETURN_EXCHANGE"], "after_sales"
        ),
    },
    "curekart": {
        **dict.fromkeys(
            [
                "RECOMMEND_PRODUCT",
                "ORIGINAL_PRODUCT",
                "CHECK_PINCODE",
                "EXPIRY_DATE",
                "STORE_INFORMATION",
                "FRANCHISE",
                "MODES_OF_PAYMENTS",
                "SIDE_EFFECT",
                "INTERNATIONAL_SHIPPING",
                "ORDER_TAKING",
            ],
            "consultation",
        ),
        **dict.fromkeys(
            [
                "ORDER_STATUS",
                "CANCEL_ORDER",
                "DELAY_IN_PARCEL",
                "MODIFY_ADDRESS",
                "REFUNDS_RETURNS_REPLACEMENTS",
                "ORDER_QUERY",
            ],
            "after_sales",
        ),
        "PORTAL_ISSUE": "problem",
    },
    "powerplay11": {
        **dict.fromkeys(
            [
                "WITHDRAWAL_INTRO",
                "WITHDRAWAL_TIME",
                "INSTANT_WITHDRAWAL",
                "TEAM_DEADLINE",
                "TAXES_ON_WINNINGS",
                "WHAT_IF_THERES_A_TIE",
                "HOW_TO_PLAY",
                "TYPES_BONUS",
                "OFFERS_AND_REFERRALS",
                "WHY_VERIFY",
                "HOW_POINTS_CALCULATED",
                "TYPES_CONTESTS",
                "CASH_BONUS_EXPIRY",
                "CASH_BONUS",
                "JOIN_CONTEST",
                "CHECK_WALLET_BALANCE",
                "CHECK_DEPOSIT_STATUS",
            ],
            "consultation",
        ),
        **dict.fromkeys(
            [
                "POINTS_NOT_UPDATED",
                "WRONG_SCORES",
                "ACCOUNT_BALANCE_DEDUCTED",
                "CANNOT_SEE_JOINED_CONTESTS",
                "DEDUCTED_AMOUNT_NOT_RECEIVED",
                "NO_EMAIL_CONFIRMATION",
                "PAN_VERIFICATION_FAILED",
                "WINNINGS",
                "MATCH_ABANDONED",
                "LESS_WINNINGS_AMOUNT",
            ],
            "problem",
        ),
        **dict.fromkeys(["CRITICISM", "FAKE_TEAMS"], "complaint"),
    },
}
# PAYMENT_AND_BILL (curekart) mixes money taken for an order never placed (a failed payment:
# problem) with duplicate bills for past orders (an invoice for a purchase: after-sales).
EN_PAYMENT_FAULT = re.compile(r"deduct|debit|not (get )?placed|fail|twice|wrong", re.I)
EN_INVOICE = re.compile(r"\b(bill|invoice)\b", re.I)
# A return/refund/cancellation intent row that asks about the policy is a consultation
# (guideline rule 5): "What's your refund policy", "Do you have exchange policy."
EN_POLICY = re.compile(r"\bpolic(y|ies)\b", re.I)


def hint3_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    """Chatbot messages of HINT3 v2 (train and test splits), typed by their intent."""
    for bot, intents in HINT3_MAP.items():
        for split in ("train", "test"):
            raw = git_show(mirrors, "hellohaptik/HINT3", f"dataset/v2/{split}/{bot}_{split}.csv")
            for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
                text, intent = norm(row["sentence"]), row["label"]
                kind, source = intents.get(intent), f"hint3:{bot}:{intent}"
                if intent == "PAYMENT_AND_BILL":
                    source += ":kw"
                    if EN_PAYMENT_FAULT.search(text):
                        kind = "problem"
                    elif EN_INVOICE.search(text):
                        kind = "after_sales"
                if kind == "after_sales" and EN_POLICY.search(text):
                    kind, source = "consultation", source + ":kw"
                if kind and len(text) >= 3:
                    yield {"text": text, "category": kind, "source": source}


# DSTC11 track 2 (Amazon; CDLA-Permissive-2.0): customers' opening turns to an insurer's, a
# bank's and a business-finance service's agents, with the intent each turn was written for.
# Typed by the guideline: new business and information, also about one's own figures, is
# consultation (A, G); changing, cancelling, claiming on or getting papers for a plan, policy,
# account or payment the customer already holds is after-sales (A, G); billing errors, disputed
# charges, lost cards and password resets are problems (B). Edits of contact details (address,
# e-mail, phone, PIN), payments and appointments are left out: the guideline decides them by
# what else the message says. The set has no complaints; it is scored like a bank's mail.
DSTC11_MAP: dict[str, str] = {
    # consultation: new business, branches, prices, how-to, own figures
    "GetQuote": "consultation",
    "EnrollInPlan": "consultation",
    "CreateAccount": "consultation",
    "FindAgent": "consultation",
    "FindATM": "consultation",
    "FindBranch": "consultation",
    "GetBranchHours": "consultation",
    "OpenBankingAccount": "consultation",
    "OpenAccount": "consultation",
    "ApplyLoan": "consultation",
    "ApplyCreditCard": "consultation",
    "GetLoanInfo": "consultation",
    "GetCreditCardInfo": "consultation",
    "GetExchangeRate": "consultation",
    "AskAboutTransferTime": "consultation",
    "GetWithdrawalLimit": "consultation",
    "AskAboutCashDeposits": "consultation",
    "OnlineBankingInfo": "consultation",
    "CheckAccountBalance": "consultation",
    "CheckTransactionHistory": "consultation",
    "CheckLoanBalance": "consultation",
    "CheckCreditCardBalance": "consultation",
    "GetPolicyNumber": "consultation",
    # after-sales: the plan, policy, account or payment the customer already holds
    "CancelPlan": "after_sales",
    "ChangePlan": "after_sales",
    "AddDependent": "after_sales",
    "RemoveDependent": "after_sales",
    "CancelAutomaticBilling": "after_sales",
    "UpdateBillingFrequency": "after_sales",
    "UpdatePaymentPreference": "after_sales",
    "CloseBankAccount": "after_sales",
    "CloseAccount": "after_sales",
    "CheckPaymentStatus": "after_sales",
    "RequestProofOfInsurance": "after_sales",
    "GetBankStatement": "after_sales",
    "CancelCheck": "after_sales",
    "FileClaim": "after_sales",
    "ReportAutomobileAccident": "after_sales",
    # problem: something went wrong with money, a card or a login
    "ReportBillingIssue": "problem",
    "DisputeCharge": "problem",
    "ReportLostStolenCard": "problem",
    "ResetPassword": "problem",
}
DSTC11_DOMAINS = ("development", "test-banking", "test-finance")


def dstc11_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    repo = "amazon-science/dstc11-track2-intent-induction"
    for domain in DSTC11_DOMAINS:
        raw = git_show(mirrors, repo, f"dstc11/{domain}/test-utterances.jsonl").decode("utf-8")
        for line in raw.splitlines():
            row = json.loads(line)
            category = DSTC11_MAP.get(row["intent"])
            if category:
                yield {
                    "text": norm(row["utterance"]),
                    "category": category,
                    "source": f"dstc11:{domain}/{row['intent']}",
                }


def zh_type(text: str) -> str | None:
    if ZH_COMPLAINT.search(text):
        return "complaint"
    if ZH_AFTER_SALES.search(text):
        return "after_sales"
    if ZH_PROBLEM.search(text):
        return "problem"
    if ZH_CONSULTATION.search(text):
        return "consultation"
    return None


def jddc_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    """Customer-looking turns of JDDC dialogue contexts, typed by keyword rules."""
    raw = git_show(mirrors, "zhangbo2008/JDDC_for_train_gpt_data", "data/train.enc")
    for line in raw.decode("utf-8", errors="replace").splitlines():
        for seg in line.split(","):
            seg = norm(ZH_NOISE.sub("", seg))
            if not 6 <= len(seg) <= 80 or ZH_AGENT.search(seg):
                continue
            if (
                "ORDERID" in seg
                or "身份证号" in seg
                or "卡号" in seg
                or "http" in seg
                or "订单编号" in seg
                or "咨询订单号" in seg
            ):
                continue
            kind = zh_type(seg)
            if kind:
                yield {"text": seg, "category": kind, "source": "jddc-dialogue:kw"}


ZH_REVIEW_COMPLAINT = re.compile(r"态度|投诉|差评|退钱|赔|骗|再也不|不会再|客服|垃圾")


def waimai_rows(mirrors: Path) -> Iterator[dict[str, str]]:
    """Negative takeaway reviews that blame the service or the company (complaint only)."""
    raw = git_show(mirrors, "SophonPlus/ChineseNlpCorpus", "datasets/waimai_10k/waimai_10k.csv")
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        text = norm(row["review"])
        if row["label"] == "0" and 8 <= len(text) <= 120 and ZH_REVIEW_COMPLAINT.search(text):
            yield {"text": text, "category": "complaint", "source": "waimai_10k:negative:kw"}


# MultiDoGo (Peskov et al., EMNLP 2019; Amazon; CDLA-Permissive-1.0): chats between crowd
# workers playing customers and agents of an airline, a bank, an insurer, a cable and internet
# provider and a company's software desk, each customer turn annotated with its intent. Typed by
# the guideline as DSTC11 is (A, G): booking, signing up, prices and one's own figures are
# consultation; changing, cancelling, claiming on or getting papers for what one holds
# (a booking, a policy, an account, a service) after-sales; a disputed charge, a lost card and
# software that fails problems (B). Left out: address edits, transfers, ordering checks,
# replacing an expired card and the software desk's expense claims, updates, server status and
# new orders (an employee's errands, not a customer's). The fast-food domain (ordering a meal)
# has no service request. The set has no complaints.
DOGO_MAP: dict[str, str] = {
    "bookflight": "consultation",
    "getseatinfo": "consultation",
    "checkbalance": "consultation",
    "checkoffereligibility": "consultation",
    "openaccount": "consultation",
    "getroutingnumber": "consultation",
    "startserviceintent": "consultation",
    "getinformationintent": "consultation",
    "getchannelpackageintent": "consultation",
    "viewdatausageintent": "consultation",
    "changeseatassignment": "after_sales",
    "getboardingpass": "after_sales",
    "closeaccount": "after_sales",
    "checkclaimstatus": "after_sales",
    "getproofofinsurance": "after_sales",
    "reportbrokenphone": "after_sales",
    "viewbillsintent": "after_sales",
    "cancelserviceintent": "after_sales",
    "upgradeserviceintent": "after_sales",
    "transferserviceintent": "after_sales",
    "changeorder": "after_sales",
    "stoporder": "after_sales",
    "disputecharge": "problem",
    "reportlostcard": "problem",
    "reportbrokensoftware": "problem",
}
DOGO_DOMAINS = ("airline", "finance", "insurance", "media", "software")
DOGO_PER_INTENT = 60


def dogo_rows(mirrors: Path, rng: random.Random) -> Iterator[dict[str, str]]:
    """Each conversation's first customer turn of three words or more that carries one mapped
    intent (its opening request), at most ``DOGO_PER_INTENT`` per intent (random sample) so
    that no single intent (seat changes: 1,590 turns) stands for its type."""
    repo = "awslabs/multi-domain-goal-oriented-dialogues-dataset"
    for domain in DOGO_DOMAINS:
        by_intent: dict[str, list[dict[str, str]]] = defaultdict(list)
        opened: set[str] = set()
        for split in ("train", "dev", "test"):
            path = f"data/paper_splits/splits_annotated_at_turn_level/{domain}/{split}.tsv"
            lines = git_show(mirrors, repo, path).decode("utf-8").splitlines()[1:]
            for line in lines:
                cols = line.split("\t")
                if len(cols) != 6 or cols[0] in opened:
                    continue
                category = DOGO_MAP.get(cols[5])
                text = norm(cols[3])
                if category is None or len(text.split()) < 3:
                    continue
                opened.add(cols[0])
                source = f"dogo:{domain}/{split}/{cols[5]}"
                by_intent[cols[5]].append({"text": text, "category": category, "source": source})
        for intent in sorted(by_intent):
            group = by_intent[intent]
            rng.shuffle(group)
            yield from group[:DOGO_PER_INTENT]


def balance(rows: Iterable[dict[str, str]], cap: int, rng: random.Random) -> list[dict[str, str]]:
    """Deduplicated rows, at most `cap` per type (random sample), in a stable shuffled order."""
    seen: set[str] = set()
    by_type: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        key = dedup_key(row["text"])
        if key in seen:
            continue
        seen.add(key)
        by_type[row["category"]].append(row)
    out: list[dict[str, str]] = []
    for kind in sorted(by_type):
        group = by_type[kind]
        rng.shuffle(group)
        group.sort(key=lambda r: r["source"].startswith(REVIEW_SOURCES))  # inquiries first
        out.extend(group[:cap])
    rng.shuffle(out)
    return out


AUDIT_ZH = Path(__file__).resolve().parent / "audit_zh.json"


def audit_key(text: str) -> str:
    """What :data:`AUDIT_ZH` keeps of a text: a hash, so the repository holds no source text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def audited_rows(rows: Iterable[dict[str, str]], audit: Path = AUDIT_ZH) -> list[dict[str, str]]:
    """``rows`` that carry a hand label in ``audit``, relabelled by it, in the audit's order;
    rows labelled as no request (null) are left out. ``source`` names the audit sample."""
    labels = json.loads(audit.read_text(encoding="utf-8"))["labels"]
    by_key = {audit_key(row["text"]): row for row in rows}
    return [
        {
            "text": by_key[key]["text"],
            "category": category,
            "source": f"audit-{sample}:{by_key[key]['source'].split(':')[0]}",
        }
        for key, sample, category in labels
        if category is not None and key in by_key
    ]


def covid_faq(mirrors: Path) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    """JHU COVID-19 FAQ (via ML-Recipes/BERT-FAQ): articles = distinct FAQ answers, titled by
    the FAQ question; queries = the user queries aligned to an answer."""
    pairs = json.loads(
        git_show(mirrors, "ML-Recipes/BERT-FAQ", "data/CovidFAQ/query_answer_pairs.json")
    )
    articles: dict[str, dict[str, str]] = {}
    answer_id: dict[str, str] = {}
    for p in pairs:
        if p["query_type"] != "faq":
            continue
        body = norm(re.sub(r"\[\[.*?\]\]", "", p["answer"]))
        if body in answer_id:
            continue
        ext = f"covid-{len(articles) + 1:03d}"
        answer_id[body] = ext
        articles[ext] = {"id": ext, "title": norm(p["question"]), "body": body}
    queries: list[dict[str, object]] = []
    seen: set[str] = set()
    for p in pairs:
        if p["query_type"] != "user_query" or int(p["label"]) != 1:
            continue
        body = norm(re.sub(r"\[\[.*?\]\]", "", p["answer"]))
        key = dedup_key(p["question"])
        if body not in answer_id or not key or key in seen:
            continue
        seen.add(key)
        queries.append({"query": norm(p["question"]), "relevant_ids": [answer_id[body]]})
    return list(articles.values()), queries


def ncov_question_pairs(
    mirrors: Path,
) -> tuple[list[dict[str, str]], list[dict[str, object]]]:
    """Tianchi 2020 epidemic question pairs (dev split, as redistributed in
    anxiang1836/query_similar_tianchi_2020).

    Entries = the distinct patient questions (``query1``), in file order; queries = the
    paraphrases annotated as matching (``label`` 1). The source has no answers, and
    ``kefu kb import`` requires a body: the body restates the question under its category.
    Paraphrases equal to some entry's question are dropped; one that several questions share
    is relevant to each of them.
    """
    raw = git_show(
        mirrors, "anxiang1836/query_similar_tianchi_2020", "jupyter/origin-data/dev.csv"
    ).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw)))
    articles: dict[str, dict[str, str]] = {}
    title_id: dict[str, str] = {}
    for r in rows:
        key = dedup_key(r["query1"])
        if not key or key in title_id:
            continue
        ext = f"ncov-{len(articles) + 1:03d}"
        title_id[key] = ext
        title = norm(r["query1"])
        articles[ext] = {"id": ext, "title": title, "body": f"【{r['category']}】{title}"}
    relevant: dict[str, list[str]] = {}
    text: dict[str, str] = {}
    for r in rows:
        key = dedup_key(r["query2"])
        if r["label"].strip() != "1" or not key or key in title_id:
            continue
        ids = relevant.setdefault(key, [])
        text.setdefault(key, norm(r["query2"]))
        ext = title_id[dedup_key(r["query1"])]
        if ext not in ids:
            ids.append(ext)
    queries: list[dict[str, object]] = [
        {"query": text[key], "relevant_ids": ids} for key, ids in relevant.items()
    ]
    return list(articles.values()), queries


def write_jsonl(path: Path, rows: Iterable[Mapping[str, object]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


SETS: tuple[str, ...] = (
    "cls_en",
    "cls_en_shop",
    "cls_en_service",
    "cls_en_chats",
    "cls_zh",
    "cls_zh_audited",
    "kb_en",
    "kb_zh",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mirrors", type=Path, default=MIRRORS)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--only", nargs="*", default=None, help=" ".join(SETS))
    args = parser.parse_args(argv)
    want = set(args.only or SETS)
    if "cls_en" in want:
        rng = random.Random(args.seed)
        rows = [
            *abcd_rows(args.mirrors),
            *clinc_rows(args.mirrors),
            *complaint_tweet_rows(args.mirrors),
        ]
        out = balance(rows, CAP_PER_TYPE_EN, rng)
        write_jsonl(args.out / "cls_en.jsonl", out)
        print("cls_en", len(out), Counter(r["category"] for r in out))
    if "cls_en_shop" in want:
        # Chatbot messages to online shops and an app; complaints are thin there (13), so the
        # complaint tweets fill that type.
        rng = random.Random(args.seed)
        tweets = [r for r in complaint_tweet_rows(args.mirrors) if r["category"] == "complaint"]
        out = balance([*hint3_rows(args.mirrors), *tweets], CAP_PER_TYPE_EN, rng)
        write_jsonl(args.out / "cls_en_shop.jsonl", out)
        print("cls_en_shop", len(out), Counter(r["category"] for r in out))
    if "cls_en_service" in want:
        rng = random.Random(args.seed)
        out = balance(dstc11_rows(args.mirrors), CAP_PER_TYPE_EN, rng)
        write_jsonl(args.out / "cls_en_service.jsonl", out)
        print("cls_en_service", len(out), Counter(r["category"] for r in out))
    if "cls_en_chats" in want:
        rng = random.Random(args.seed)
        out = balance(dogo_rows(args.mirrors, rng), CAP_PER_TYPE_EN, rng)
        write_jsonl(args.out / "cls_en_chats.jsonl", out)
        print("cls_en_chats", len(out), Counter(r["category"] for r in out))
    if "cls_zh" in want:
        rng = random.Random(args.seed)
        out = balance([*jddc_rows(args.mirrors), *waimai_rows(args.mirrors)], CAP_PER_TYPE_ZH, rng)
        write_jsonl(args.out / "cls_zh.jsonl", out)
        print("cls_zh", len(out), Counter(r["category"] for r in out))
    if "cls_zh_audited" in want:
        out = audited_rows([*jddc_rows(args.mirrors), *waimai_rows(args.mirrors)])
        write_jsonl(args.out / "cls_zh_audited.jsonl", out)
        print("cls_zh_audited", len(out), Counter(r["category"] for r in out))
    if "kb_en" in want:
        articles, queries = covid_faq(args.mirrors)
        write_jsonl(args.out / "kb_en.jsonl", articles)
        write_jsonl(args.out / "queries_en.jsonl", queries)
        print("kb_en", len(articles), "queries_en", len(queries))
    if "kb_zh" in want:
        articles, queries = ncov_question_pairs(args.mirrors)
        write_jsonl(args.out / "kb_zh.jsonl", articles)
        write_jsonl(args.out / "queries_zh.jsonl", queries)
        print("kb_zh", len(articles), "queries_zh", len(queries))


if __name__ == "__main__":
    main()
