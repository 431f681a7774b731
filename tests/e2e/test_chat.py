"""Live chat in real browsers: a customer chats from a page on another site that embeds the
widget, while agents answer from their inbox in other browser contexts — with a screenshot,
typing, read marks, a reload on each side mid-conversation, a transfer and the survey inside
the widget; nobody online becomes a left message; the queue says where the visitor stands."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from html import escape as html_escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image
from playwright.async_api import expect
from sqlalchemy import select

from models.chat_conversation import ChatConversation
from models.db import Database, unit_of_work
from models.enums import ChatStatus, TicketStatus
from models.services.chat import widgets
from models.services.common.actor import Actor
from models.survey import Survey
from models.ticket import Ticket
from models.user import User
from tests.e2e.conftest import has_class, screenshot_path, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("reference")]

QUESTION = "你好，我上周买的耳机左边没声音，怎么办？"
ANSWER = "您好，请先试试重新配对；不行的话我们给您换新。"


class HostSite:
    """A company's page on another origin, embedding the widget with the one script tag."""

    def __init__(self, kefu: str, key: str, lang: str, attrs: dict[str, str]) -> None:
        extra = "".join(f" {name}='{html_escape(value)}'" for name, value in attrs.items())
        html = (
            "<!doctype html><html><head><meta charset='utf-8'><title>ACME</title>"
            f"<script src='{kefu}/static/chat/loader.js' data-widget='{key}' "
            f"data-lang='{lang}'{extra} async></script></head>"
            "<body><h1>ACME 耳机旗舰店</h1></body></html>"
        ).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(html)))
                self.end_headers()
                self.wfile.write(html)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site(live_server: str) -> Iterator[Any]:
    sites: list[HostSite] = []

    def open_site(key: str, lang: str = "zh-CN", attrs: dict[str, str] | None = None) -> str:
        site = HostSite(live_server, key, lang, attrs or {})
        sites.append(site)
        return site.url

    yield open_site
    for site in sites:
        site.close()


async def make_widget(db: Database, **changes: Any) -> str:
    async with unit_of_work(db) as session:
        widget = await widgets.save(
            session,
            Actor.system("e2e"),
            widgets.WidgetInput(
                name="ACME 在线客服", greeting_zh="您好，欢迎光临 ACME！", **changes
            ),
        )
        return widget.key


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def open_inbox(page: Any, username: str) -> None:
    await sign_in(page, username, "kefu-agent")
    await page.goto("/chat")
    await expect(page.locator("body")).to_have_attribute("data-live-stream", "open")
    # The box ticks before the server has it: wait for the answer to the switch, so the
    # agent counts as online (for offers and for colleagues' transfer lists) from here on.
    async with page.expect_response(
        lambda r: r.url.endswith("/chat/availability") and r.request.method == "POST"
    ) as answer:
        await page.locator("[data-testid=chat-available]").check()
    assert (await answer.value).ok
    await expect(page.locator("[data-testid=chat-available]")).to_be_checked()


async def open_widget(customer: Any, url: str) -> Any:
    await customer.goto(url)
    await customer.locator("[data-kefu-chat=button]").click()
    frame = customer.frame_locator("iframe[data-kefu-chat=frame]")
    await expect(frame.locator("[data-testid=chat-greeting]")).to_be_visible()
    return frame


async def start_chat(frame: Any, text: str) -> Any:
    """The customer writes ``text`` and an agent online takes the chat; the widget's lines."""
    await frame.locator("[data-testid=chat-widget-input]").fill(text)
    await frame.locator("[data-testid=chat-widget-input]").press("Enter")
    lines = frame.locator("[data-testid=chat-widget-lines]")
    await expect(lines).to_contain_text("已接入会话")
    return lines


async def conversation(db: Database) -> ChatConversation:
    async with db.sessionmaker() as session:
        row = await session.scalar(select(ChatConversation).order_by(ChatConversation.id.desc()))
        assert row is not None
        return row


async def test_a_customer_chats_from_another_site_while_agents_answer_from_the_inbox(
    db: Database, new_page: Any, host_site: Any
) -> None:
    key = await make_widget(db)
    agent = await new_page()
    await open_inbox(agent, "agent")

    customer = await new_page()
    frame = await open_widget(customer, host_site(key))
    await expect(frame.locator("[data-testid=chat-greeting]")).to_have_text("您好，欢迎光临 ACME！")
    await frame.locator("[data-testid=chat-widget-input]").fill(QUESTION)
    await frame.locator("[data-testid=chat-widget-input]").press("Enter")
    lines = frame.locator("[data-testid=chat-widget-lines]")
    await expect(lines).to_contain_text(QUESTION)
    await expect(lines).to_contain_text("已接入会话")  # offered to the agent online

    # The chat reaches the agent's inbox live; the agent opens it and answers.
    item = agent.locator("[data-testid=chat-mine] [data-testid=chat-item]")
    await expect(item).to_contain_text(QUESTION[:20])
    await item.click()
    pane = agent.locator("[data-testid=chat-pane]")
    await expect(pane.locator("[data-testid=chat-lines]")).to_contain_text(QUESTION)
    box = pane.locator(".chat-reply textarea")
    await box.fill("您好")
    await expect(frame.locator("[data-testid=chat-widget-typing]")).to_be_visible()
    await box.fill(ANSWER)
    await box.press("Enter")
    await expect(lines).to_contain_text(ANSWER)
    # The customer has the widget open: the agent sees the answer read.
    await expect(pane.locator(".chat-line.chat-agent.is-read")).to_have_count(1)
    # Markup in a message is text on both sides.
    await box.fill("<b>不是粗体</b>")
    await box.press("Enter")
    await expect(lines).to_contain_text("<b>不是粗体</b>")
    await expect(lines.locator("b")).to_have_count(0)
    await frame.locator("[data-testid=chat-widget-input]").fill("<i>不是斜体</i>")
    await frame.locator("[data-testid=chat-widget-input]").press("Enter")
    await expect(pane.locator("[data-testid=chat-lines]")).to_contain_text("<i>不是斜体</i>")
    await expect(pane.locator("[data-testid=chat-lines] i")).to_have_count(0)

    # A screenshot from the customer reaches the agent as an image.
    await frame.locator("[data-testid=chat-widget-file]").set_input_files(
        files=[{"name": "earphone.png", "mimeType": "image/png", "buffer": png()}]
    )
    await expect(pane.locator("[data-testid=chat-attachment] img")).to_be_visible()
    # ... and the customer sees the picture they sent, not an empty bubble.
    own = lines.locator(".kc-customer .kc-bubble img")
    await expect(own).to_be_visible()
    width = await own.evaluate(
        "img => img.complete ? img.naturalWidth : new Promise(ok => {"
        " img.onload = () => ok(img.naturalWidth); img.onerror = () => ok(0); })"
    )
    assert width == 40
    await customer.screenshot(path=screenshot_path("chat-widget-customer"))
    await agent.screenshot(path=screenshot_path("chat-inbox-agent"))

    # Both sides reload mid-conversation: nothing lost, nothing doubled.
    await customer.reload()
    frame = await open_widget(customer, customer.url)
    lines = frame.locator("[data-testid=chat-widget-lines]")
    await expect(lines.locator(".kc-customer").filter(has_text=QUESTION)).to_have_count(1)
    await expect(lines.locator(".kc-agent").filter(has_text=ANSWER)).to_have_count(1)
    await agent.reload()
    await expect(agent.locator("body")).to_have_attribute("data-live-stream", "open")
    pane = agent.locator("[data-testid=chat-pane]")
    await expect(pane.locator(".chat-line.chat-agent").filter(has_text=ANSWER)).to_have_count(1)
    await frame.locator("[data-testid=chat-widget-input]").fill("好的，我试试重新配对")
    await frame.locator("[data-testid=chat-widget-input]").press("Enter")
    await expect(pane.locator("[data-testid=chat-lines]")).to_contain_text("我试试重新配对")

    # The agent hands the chat to a colleague, who ends it; the customer rates it in place.
    colleague = await new_page()
    await open_inbox(colleague, "agent.emma")
    await pane.locator(".chat-transfer summary").click()
    async with db.sessionmaker() as session:
        emma = await session.scalar(select(User).where(User.username == "agent.emma"))
        assert emma is not None
    await pane.locator("[data-testid=chat-transfer-user]").select_option(str(emma.id))
    await pane.locator("[data-testid=chat-transfer-submit]").click()
    await expect(lines).to_contain_text("已为您转接至 Emma Clarke")
    taken = colleague.locator("[data-testid=chat-mine] [data-testid=chat-item]")
    await expect(taken).to_have_count(1)
    await taken.click()
    colleague.once("dialog", lambda dialog: dialog.accept())
    await colleague.locator("[data-testid=chat-end]").click()
    await expect(colleague.locator("[data-testid=chat-status]")).to_have_text("已结束")

    survey = frame.locator("[data-testid=chat-widget-survey]")
    await expect(survey).to_be_visible()
    for name, score in (("speed", "5"), ("solution", "4"), ("attitude", "5")):
        await survey.locator(f"input[name={name}][value='{score}'] + span").click()
    await survey.locator("[data-testid=chat-widget-survey-send]").click()
    await expect(frame.locator("[data-testid=chat-widget-status]")).to_have_text("感谢您的反馈！")
    await customer.screenshot(path=screenshot_path("chat-widget-survey-done"))

    row = await conversation(db)
    assert row.status is ChatStatus.ENDED and row.agent_id == emma.id
    async with db.sessionmaker() as session:
        ticket = await session.get(Ticket, row.ticket_id)
        assert ticket is not None and ticket.status is TicketStatus.COMPLETED
        survey_row = await session.scalar(select(Survey).where(Survey.ticket_id == ticket.id))
        assert survey_row is not None and survey_row.submitted_at is not None
        assert (survey_row.speed_score, survey_row.solution_score, survey_row.attitude_score) == (
            5,
            4,
            5,
        )

    # Writing again after the chat ended starts a new chat: the widget shows it as the first
    # (the ended chat's lines above it), an agent gets it, and it is filed under the same
    # customer, so the agent sees the first chat's ticket among the earlier inquiries.
    again = "还有一个问题：耳机盒子也有划痕"
    box = frame.locator("[data-testid=chat-widget-input]")
    await box.fill(again)
    await box.press("Enter")
    current = lines.locator(".kc-line[data-seq]:not(.kc-history)")  # confirmed, this chat's
    await expect(current.filter(has_text=again)).to_have_count(1)
    await expect(current.filter(has_text="已接入会话")).to_have_count(1)
    await expect(current.filter(has_text=QUESTION)).to_have_count(0)
    await expect(lines.locator(".kc-customer").filter(has_text=again)).to_have_count(1)
    second = await conversation(db)
    assert second.id != row.id and second.customer_id == row.customer_id
    taker = colleague if second.agent_id == emma.id else agent
    item = taker.locator("[data-testid=chat-mine] [data-testid=chat-item]").filter(has_text=again)
    await item.click()
    earlier = taker.locator("[data-testid=chat-pane] .chat-earlier")
    async with db.sessionmaker() as session:
        first_ticket = await session.get(Ticket, row.ticket_id)
        assert first_ticket is not None
    await expect(earlier).to_contain_text(first_ticket.number)


# Counts the customer's read marks the agent's page has heard on its live stream.
COUNT_CUSTOMER_READS = """
(() => {
  window.__customerReads = 0;
  document.body.addEventListener("htmx:sseMessage", (evt) => {
    if (!evt.detail || evt.detail.type !== "chat") { return; }
    try {
      const data = JSON.parse(evt.detail.data);
      if (data.type === "chat.read" && data.side === "customer") { window.__customerReads += 1; }
    } catch (e) { /* not JSON: not a chat event */ }
  });
})();
"""


async def test_a_read_mark_heard_before_the_agents_reply_is_shown_marks_it(
    db: Database, new_page: Any, host_site: Any
) -> None:
    """The customer's widget shows the reply (from the live stream) and says it was read
    before the agent's own page has the answer to its POST: the line, added after, is read."""
    key = await make_widget(db)
    agent = await new_page()
    await open_inbox(agent, "agent")
    customer = await new_page()
    frame = await open_widget(customer, host_site(key))
    lines = await start_chat(frame, QUESTION)
    await agent.locator("[data-testid=chat-mine] [data-testid=chat-item]").click()
    pane = agent.locator("[data-testid=chat-pane]")
    await expect(pane.locator("[data-testid=chat-lines]")).to_contain_text(QUESTION)
    await agent.evaluate(COUNT_CUSTOMER_READS)

    # The agent's reply is saved (and announced) at once; neither its answer nor the read of
    # the lines it announced reaches the agent's page before the customer's read mark does.
    release = asyncio.Event()

    async def hold_answer(route: Any) -> None:
        answer = await route.fetch()
        await release.wait()
        await route.fulfill(response=answer)

    await agent.route("**/chat/c/*/messages", hold_answer)
    await agent.route("**/chat/c/*/lines*", hold_answer)
    box = pane.locator(".chat-reply textarea")
    await box.fill(ANSWER)
    await box.press("Enter")
    await expect(lines).to_contain_text(ANSWER)
    await agent.wait_for_function("() => window.__customerReads >= 1")
    await expect(pane.locator(".chat-line.chat-agent")).to_have_count(0)
    release.set()

    reply = pane.locator(".chat-line.chat-agent").filter(has_text=ANSWER)
    await expect(reply).to_have_count(1)
    await expect(reply).to_have_class(has_class("is-read"))
    await agent.unroute_all(behavior="wait")  # the held answers are handed over
    await agent.reload()  # as the server has it
    await expect(pane.locator(".chat-line.chat-agent.is-read")).to_have_count(1)


async def test_with_nobody_online_the_widget_takes_a_message(
    db: Database, new_page: Any, host_site: Any
) -> None:
    key = await make_widget(db)
    customer = await new_page("en-US")
    frame = await open_widget(customer, host_site(key, lang="en"))
    leave = frame.locator("[data-testid=chat-widget-leave]")
    await expect(leave).to_be_visible()
    await expect(frame.locator("[data-testid=chat-widget-compose]")).to_be_hidden()
    await leave.locator("input[name=name]").fill("Ann Lee")
    await leave.locator("textarea[name=text]").fill("My headphones stopped charging.")
    await leave.locator("button[type=submit]").click()
    await expect(leave.locator(".kc-error")).to_contain_text("phone number or an email")
    await leave.locator("input[name=email]").fill("ann@example.com")
    await leave.locator("button[type=submit]").click()
    left = frame.locator("[data-testid=chat-widget-left]")
    await expect(left).to_contain_text("Thank you. Your message was registered as")
    await customer.screenshot(path=screenshot_path("chat-widget-left-message-en"))


async def test_outside_business_hours_the_widget_takes_a_message_though_agents_are_online(
    db: Database, new_page: Any, host_site: Any
) -> None:
    # Open one minute a week, Monday 00:00-00:01 Shanghai time: closed now.
    key = await make_widget(db, days=(0,), start="00:00", end="00:01")
    agent = await new_page()
    await open_inbox(agent, "agent")
    customer = await new_page()
    frame = await open_widget(customer, host_site(key))
    leave = frame.locator("[data-testid=chat-widget-leave]")
    await expect(leave).to_be_visible()
    await expect(frame.locator("[data-testid=chat-widget-compose]")).to_be_hidden()
    await leave.locator("input[name=name]").fill("王先生")
    await leave.locator("input[name=phone]").fill("13800138123")
    await leave.locator("textarea[name=text]").fill("晚上才有空，请明天回电。")
    await leave.locator("button[type=submit]").click()
    await expect(frame.locator("[data-testid=chat-widget-left]")).to_contain_text("感谢留言")
    async with db.sessionmaker() as session:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.description == "晚上才有空，请明天回电。")
        )
        assert ticket is not None and ticket.status is TicketStatus.PENDING


async def test_with_the_cap_reached_a_visitor_sees_their_place_in_the_queue(
    db: Database, new_page: Any, host_site: Any
) -> None:
    key = await make_widget(db)
    async with unit_of_work(db) as session:
        user = await session.scalar(select(User).where(User.username == "agent"))
        assert user is not None
        user.chat_capacity = 1
    agent = await new_page()
    await open_inbox(agent, "agent")
    url = host_site(key)
    first = await open_widget(await new_page(), url)
    await first.locator("[data-testid=chat-widget-input]").fill("第一位顾客的问题")
    await first.locator("[data-testid=chat-widget-input]").press("Enter")
    await expect(first.locator("[data-testid=chat-widget-lines]")).to_contain_text("已接入会话")

    second_page = await new_page()
    await second_page.set_viewport_size({"width": 390, "height": 844})
    second = await open_widget(second_page, url)
    await second.locator("[data-testid=chat-widget-input]").fill("第二位顾客的问题")
    await second.locator("[data-testid=chat-widget-input]").press("Enter")
    await expect(second.locator("[data-testid=chat-widget-status]")).to_contain_text(
        "您当前排在第 1 位"
    )
    await second_page.screenshot(path=screenshot_path("chat-widget-queue-390"))
    queue = agent.locator("[data-testid=chat-queue] [data-testid=chat-item]")
    await expect(queue).to_contain_text("第二位顾客的问题")


def signed_in(secret: str, email: str, name: str) -> dict[str, str]:
    """The script tag's attributes for a customer signed in on the company's site."""
    return {
        "data-user-email": email,
        "data-user-name": name,
        "data-user-hash": widgets.sign_identity(secret, email),
    }


async def test_a_signed_in_customer_sees_earlier_chats_anywhere_and_a_new_sign_in_starts_afresh(
    db: Database, new_page: Any, host_site: Any
) -> None:
    key = await make_widget(db)
    async with db.sessionmaker() as session:
        secret = widgets.identity_secret(await widgets.by_key(session, key))
        assert secret is not None
    agent = await new_page()
    await open_inbox(agent, "agent")
    alice = host_site(key, attrs=signed_in(secret, "alice@example.com", "王丽"))

    laptop = await new_page()
    frame = await open_widget(laptop, alice)
    await expect(frame.locator(".kc-who")).to_be_hidden()  # the site said who she is
    lines = await start_chat(frame, QUESTION)
    # The agent sees the site vouched for her, under her record's name.
    await agent.locator("[data-testid=chat-mine] [data-testid=chat-item]").click()
    pane = agent.locator("[data-testid=chat-pane]")
    await expect(pane.locator("h2")).to_contain_text("王丽")
    await expect(pane.locator("[data-testid=chat-identity-verified]")).to_have_text("已验证")
    await frame.locator("[data-testid=chat-widget-end]").click()
    await expect(lines).to_contain_text("会话已结束")
    row = await conversation(db)
    assert row.identity_verified and row.status is ChatStatus.ENDED

    # Her phone: a browser that never chatted shows her earlier chat, marked as earlier.
    phone = await new_page()
    await phone.set_viewport_size({"width": 390, "height": 844})
    on_phone = await open_widget(phone, alice)
    history = on_phone.locator("[data-testid=chat-widget-lines] .kc-history")
    await expect(history.filter(has_text=QUESTION)).to_have_count(1)
    await expect(history.first).to_have_text("历史会话")
    await phone.screenshot(path=screenshot_path("chat-widget-signed-in-history-390"))

    # On the laptop another customer signs in, then signs out: neither sees her chat.
    bob = host_site(key, attrs=signed_in(secret, "bob@example.com", "Bob"))
    for site in (bob, host_site(key)):
        frame = await open_widget(laptop, site)
        await expect(frame.locator("[data-testid=chat-widget-compose]")).to_be_visible()
        await expect(frame.locator("[data-testid=chat-widget-lines]")).not_to_contain_text(QUESTION)


async def test_a_signed_in_customer_leaves_a_message_with_nothing_but_the_message(
    db: Database, new_page: Any, host_site: Any
) -> None:
    key = await make_widget(db)  # nobody online
    async with db.sessionmaker() as session:
        secret = widgets.identity_secret(await widgets.by_key(session, key))
        assert secret is not None
    customer = await new_page("en-US")
    frame = await open_widget(
        customer, host_site(key, lang="en", attrs=signed_in(secret, "ann@example.com", "Ann Lee"))
    )
    # The admin wrote a Chinese greeting only: an English visitor gets the English default.
    await expect(frame.locator("[data-testid=chat-greeting]")).to_have_text(
        "Hello! How can we help you?"
    )
    leave = frame.locator("[data-testid=chat-widget-leave]")
    await expect(leave).to_be_visible()
    await expect(leave.locator("input[name=email]")).to_be_hidden()
    await expect(leave.locator("input[name=name]")).to_be_hidden()
    await leave.locator("textarea[name=text]").fill("My headphones stopped charging.")
    await leave.locator("button[type=submit]").click()
    await expect(frame.locator("[data-testid=chat-widget-left]")).to_contain_text(
        "Your message was registered as"
    )
    await customer.screenshot(path=screenshot_path("chat-widget-signed-in-left-message-en"))
