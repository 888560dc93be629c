/**
 * The dashboard against a real demo: sign in, give an order and watch its
 * plan appear live, approve a purchase order, and see the order's audit
 * trail verified intact; a full-page screenshot of every page on the way.
 * Any console error fails the test.
 */
import { expect, test, type Page } from "@playwright/test";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(here, "..", "e2e-screenshots");
const demo = JSON.parse(readFileSync(join(here, ".state", "demo.json"), "utf8")) as { baseURL: string; token: string };

const ORDER = "Check stock in the main warehouse and reorder what is running low";

async function shoot(page: Page, name: string) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

test("the CEO gives an order, approves a purchase order and audits it", async ({ page }) => {
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  // Sign in.
  await page.goto(`${demo.baseURL}/`);
  await expect(page.getByRole("heading", { name: "AgentOS" })).toBeVisible();
  await shoot(page, "1-sign-in");
  await page.getByLabel("Token").fill(demo.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("signed-in-as")).toContainText("ceo");

  // The directives list (the demo's morning scan is there).
  await expect(page.getByRole("heading", { name: "Directives" })).toBeVisible();
  await expect(page.locator("table tbody tr").first()).toBeVisible();
  await shoot(page, "2-directives");

  // Give the order; its plan appears without a reload.
  await page.getByRole("textbox", { name: "Order" }).fill(ORDER);
  await page.getByRole("button", { name: "Give order" }).click();
  await expect(page.getByTestId("live-task").first()).toBeVisible({ timeout: 60_000 });
  await page.getByRole("link", { name: "Open directive" }).click();
  await expect(page.getByRole("heading", { name: ORDER })).toBeVisible();
  await expect(page.getByTestId("task-row").first()).toBeVisible();
  await expect(page.locator(".timeline-item").first()).toBeVisible();
  await shoot(page, "3-directive-detail");

  // Approve one of the purchase orders the morning scan left waiting.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals" }).click();
  const cards = page.getByTestId("approval");
  await expect(cards.first()).toBeVisible({ timeout: 90_000 });
  await shoot(page, "4-approvals");
  const waiting = await cards.count();
  const card = cards.first();
  const directiveHref = await card.getByRole("link", { name: "its directive" }).getAttribute("href");
  expect(directiveHref).toBeTruthy();
  await card.getByRole("button", { name: "Approve" }).click();
  await expect(cards).toHaveCount(waiting - 1);

  // Logistics.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Logistics" }).click();
  await expect(page.getByRole("heading", { name: "Purchase orders" })).toBeVisible();
  await expect(page.locator("section", { has: page.getByRole("heading", { name: "Purchase orders" }) }).locator("tbody tr").first()).toBeVisible();
  await shoot(page, "5-logistics");

  // Agents.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Agents" }).click();
  await expect(page.getByRole("heading", { name: "Processors" })).toBeVisible();
  await shoot(page, "6-agents");

  // The approved order's audit trail, verified intact.
  await page.goto(`${demo.baseURL}${directiveHref}`);
  await page.getByRole("link", { name: "Audit trail" }).click();
  await expect(page.getByRole("heading", { name: /Causal chain of order/ })).toBeVisible();
  await expect(page.locator(".timeline-item").first()).toBeVisible();
  await expect(page.getByTestId("verdict")).toContainText("Intact");
  await expect(page.getByText("ApprovalGranted").first()).toBeVisible();
  await shoot(page, "7-audit");

  // Readable at tablet width.
  await page.setViewportSize({ width: 768, height: 1024 });
  await page.goto(`${demo.baseURL}${directiveHref}`);
  await expect(page.getByTestId("task-row").first()).toBeVisible();
  await shoot(page, "8-directive-detail-tablet");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Approvals" }).click();
  await expect(page.getByRole("heading", { name: "Approvals" })).toBeVisible();
  await shoot(page, "9-approvals-tablet");

  expect(problems).toEqual([]);
});
