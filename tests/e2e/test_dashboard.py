"""The dashboard in a real browser (headless Chromium) against a real server: two people sign
in, one adds the other to a new group, adds an expense through the form (after a refused one,
whose typed error shows beside the payers) and sees the balances change; the other creates the
invoice in a second window and the first sees it arrive live, without a reload."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from aequatio.api.dashboard import subject_for
from tests.support.api import Api
from tests.support.browser import artifact, chromium_executable
from tests.support.databases import admin, asyncpg_url
from tests.support.server import Server, free_port, serve_process

WAIT_MS = 15_000


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_executable(), args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


async def signed_in(browser: Browser, server: Server, name: str) -> Page:
    """A new window (its own storage) signed in and registered as ``name``."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # A blocked resource (a 404, a content-security-policy violation) is a console error.
    page.on("console", lambda line: errors.append(line.text) if line.type == "error" else None)
    await page.goto(f"{server.url}/")
    await page.fill("#dev-sign-in input[name=name]", name)
    await page.click("#dev-sign-in button[type=submit]")
    await expect(page.locator("#register")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#register-form input[name=name]")).to_have_value(name)
    await page.click("#register-form button[type=submit]")
    await expect(page.locator("#workspace")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#live-status")).to_have_text("live", timeout=WAIT_MS)
    assert errors == []
    return page


async def test_two_windows_follow_one_family_s_month_live(browser: Browser, server: Server) -> None:
    suffix = uuid.uuid4().hex[:6]
    ann = await signed_in(browser, server, f"Ann {suffix}")
    ben = await signed_in(browser, server, f"Ben {suffix}")
    ben_id = (await ben.inner_text("#my-id")).removeprefix("Your user id: ").strip()
    month_start = date.today().replace(day=1).isoformat()

    # Ann creates the group and adds Ben.
    await ann.click("#new-group summary")
    await ann.fill("#group-form input[name=name]", f"Family {suffix}")
    await ann.fill("#group-form input[name=startedOn]", month_start)
    await ann.click("#group-form button[type=submit]")
    await expect(ann.locator("#panels")).to_be_visible(timeout=WAIT_MS)
    await expect(ann.locator("#members li")).to_have_count(1)
    await ann.click("#add-member summary")
    await ann.fill("#member-form input[name=userId]", ben_id)
    await ann.fill("#member-form input[name=joinedOn]", month_start)
    await ann.click("#member-form button[type=submit]")
    await expect(ann.locator("#members li")).to_have_count(2, timeout=WAIT_MS)

    # A refused expense: two payers whose amounts do not add up; the typed error sits by them.
    form = ann.locator("#expense-form")
    await form.locator("input[name=description]").fill("Groceries")
    await form.locator("input[name=amount]").fill("42.50")
    await form.locator("input[name=payerAmount]").fill("40")
    await ann.click("#add-payer")
    await form.locator("select[name=payer]").nth(1).select_option(ben_id)
    await form.locator("input[name=payerAmount]").nth(1).fill("1")
    await form.locator("button[type=submit]").click()
    payers_error = form.locator("fieldset[data-field='input.payers'] > .field-error")
    await expect(payers_error).to_contain_text("PAYER_AMOUNTS_MISMATCH", timeout=WAIT_MS)
    await expect(ann.locator("#balances tbody")).to_contain_text("Nothing this month")

    # Corrected: Ann paid 40.00, Ben 2.50, split equally: Ann +18.75, Ben -18.75.
    await form.locator("input[name=payerAmount]").nth(1).fill("2.50")
    await form.locator("button[type=submit]").click()
    await expect(payers_error).to_be_empty()
    balances = ann.locator("#balances tbody")
    await expect(balances.locator("tr")).to_have_count(2, timeout=WAIT_MS)
    await expect(balances.locator("tr", has_text=f"Ann {suffix}")).to_contain_text("18.75 EUR")
    minus = "\u2212"  # the page writes negative amounts with a real minus sign
    await expect(balances.locator("tr", has_text=f"Ben {suffix}")).to_contain_text(f"{minus}18.75")
    await expect(ann.locator("#expenses tbody tr")).to_have_count(1)

    # Ben's window sees the group; he creates the invoice there.
    await ben.reload()
    await expect(ben.locator("#group-select")).to_contain_text(f"Family {suffix}", timeout=WAIT_MS)
    await expect(ben.locator("#expenses tbody tr")).to_have_count(1, timeout=WAIT_MS)
    await expect(ann.locator("#invoices li[data-invoice-id]")).to_have_count(0)
    await ben.click("#create-invoice")

    # Ann's window: the split's transfer and the invoice arrive live, no reload.
    invoice = ann.locator("#invoices li[data-invoice-id]")
    await expect(invoice).to_have_count(1, timeout=WAIT_MS)
    await expect(invoice).to_contain_text("issued")
    await expect(invoice).to_contain_text("42.50 EUR")
    await expect(ann.locator("#transfers")).to_contain_text("18.75 EUR", timeout=WAIT_MS)
    await expect(ann.locator("#activity")).to_contain_text("invoice", timeout=WAIT_MS)
    await ann.screenshot(path=artifact("dashboard.png"), full_page=True)


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    name = f"aeq_e2e_dash_{uuid.uuid4().hex[:10]}"
    await admin(f'CREATE DATABASE "{name}"')
    yield asyncpg_url(name)
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_the_page_reconnects_after_the_server_restarts(
    browser: Browser, own_database: str, tmp_path: Path
) -> None:
    secret = secrets.token_urlsafe(48)
    port = free_port()
    env = {
        "AEQUATIO_DATABASE_URL": own_database,
        "AEQUATIO_JWT_SECRET": secret,
        "AEQUATIO_DATA_DIR": str(tmp_path / "data"),
        "AEQUATIO_AMQP_URL": "",
    }
    with serve_process(env, tmp_path / "first.log", port=port) as (url, _):
        server = Server(url, secret, own_database, 0)
        ann = await signed_in(browser, server, "Ann Restart")
        await ann.click("#new-group summary")
        await ann.fill("#group-form input[name=name]", "Restarted family")
        await ann.click("#group-form button[type=submit]")
        await expect(ann.locator("#members li")).to_have_count(1, timeout=WAIT_MS)
        group = await ann.eval_on_selector("#group-select", "select => select.value")
    await expect(ann.locator("#live-status")).to_have_text("reconnecting", timeout=WAIT_MS)

    with serve_process(env, tmp_path / "second.log", port=port) as (url, _):
        await expect(ann.locator("#live-status")).to_have_text("live", timeout=30_000)
        api = Api(url, secret)
        try:
            # A change from elsewhere reaches the page over the new connection.
            await api.succeed(
                "addExpense",
                {
                    "groupId": group,
                    "amountCents": 1234,
                    "currency": "EUR",
                    "description": "After the restart",
                    "incurredOn": date.today().isoformat(),
                },
                token=api.token(subject_for("Ann Restart")),
            )
        finally:
            await api.close()
        await expect(ann.locator("#expenses tbody")).to_contain_text(
            "After the restart", timeout=WAIT_MS
        )
