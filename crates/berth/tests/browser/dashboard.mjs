// The dashboard in a real browser (headless Chromium driven by Playwright), run by
// crates/berth/tests/dashboard.rs inside the daemon's network namespace. Environment: BASE
// (https://127.0.0.1:PORT), ADMIN and VIEWER (name:password), SHOTS (a directory for the
// screenshots), NODE_MODULES (where playwright-core is installed). Prints each step; exits 1
// at the first failure (with a screenshot of it).
import { createRequire } from "node:module";

const { chromium } = createRequire(`${process.env.NODE_MODULES}/`)("playwright-core");

const base = process.env.BASE;
const shots = process.env.SHOTS;
const [adminName, adminPass] = process.env.ADMIN.split(":");
const [viewerName, viewerPass] = process.env.VIEWER.split(":");

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-dev-shm-usage"],
});
let page;
let step = "start";
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const check = (cond, what) => {
  if (!cond) throw new Error(`expected: ${what}`);
};
const until = async (what, f, ms = 20000) => {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};
async function signIn(p, name, pass) {
  await p.goto(`${base}/login`);
  await p.fill("input[name=username]", name);
  await p.fill("input[name=password]", pass);
  await p.click("button[type=submit]");
}
async function run(name, f) {
  step = name;
  console.log(`step: ${name}`);
  await f();
}

try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 900 } });
  page = await ctx.newPage();

  await run("nothing without a session", async () => {
    await page.goto(`${base}/containers`);
    check(page.url().endsWith("/login"), `redirected to /login, at ${page.url()}`);
  });
  await run("a wrong password is refused", async () => {
    await signIn(page, adminName, "not the password");
    check((await page.textContent("main")).includes("Wrong user name or password"), "the refusal");
  });
  await run("sign in", async () => {
    await signIn(page, adminName, adminPass);
    await page.waitForURL(`${base}/`);
    await until("the host chart", async () => Number(await page.getAttribute("#host-cpu", "data-samples")) >= 2);
    await shot("overview");
  });
  await run("stop and start a container from the list", async () => {
    await page.goto(`${base}/containers`);
    const row = page.locator("tr", { has: page.locator("a", { hasText: /^web$/ }) });
    check((await row.locator(".state").textContent()) === "running", "web running");
    await row.locator("button", { hasText: "Stop" }).click();
    await page.waitForURL(/containers/);
    await page.goto(`${base}/containers`);
    check((await page.locator("tr", { has: page.locator("a", { hasText: /^web$/ }) }).locator(".state").textContent()) === "exited", "web stopped");
    await page.locator("tr", { has: page.locator("a", { hasText: /^web$/ }) }).locator("button", { hasText: "Start" }).click();
    await page.goto(`${base}/containers`);
    check((await page.locator("tr", { has: page.locator("a", { hasText: /^web$/ }) }).locator(".state").textContent()) === "running", "web started again");
    await shot("containers");
  });
  await run("live logs with search", async () => {
    await page.goto(`${base}/containers/web`);
    const before = await until("logs", async () => {
      const t = await page.textContent("#log-view");
      return t.includes("tick") ? t.split("\n").length : 0;
    });
    await until("more logs while following", async () => (await page.textContent("#log-view")).split("\n").length > before + 1);
    await page.fill("#log-search", "tick 1");
    const shown = (await page.textContent("#log-view")).split("\n").filter((l) => l);
    check(shown.length > 0 && shown.every((l) => l.includes("tick 1")), `only matching lines, got ${JSON.stringify(shown.slice(0, 5))}`);
    await page.fill("#log-search", "");
  });
  await run("the stats chart updates", async () => {
    const first = await until("a chart", async () => Number(await page.getAttribute("figure[data-chart=CPU]", "data-samples")) || 0);
    await until("a newer sample in the chart", async () => Number(await page.getAttribute("figure[data-chart=CPU]", "data-samples")) > first, 30000);
    await shot("container");
  });
  await run("a command in the console", async () => {
    await page.click("#console-open");
    await page.waitForSelector("#term[data-connected='1']");
    await page.focus("#term");
    await page.keyboard.type("echo answer=$((6*7))");
    await page.keyboard.press("Enter");
    await until("the shell's answer", async () => (await page.evaluate(() => window.berthTerm.text())).includes("answer=42"));
    await shot("console");
  });
  await run("deploy a stack from a pasted compose file, then down", async () => {
    await page.goto(`${base}/stacks`);
    await page.fill("input[name=name]", "demo");
    await page.fill("textarea[name=compose]", "services:\n  app:\n    image: busybox\n    command: sleep 3600\n");
    await page.click("button:has-text('Deploy')");
    await page.waitForURL(/\/stacks\?/);
    const text = await page.textContent("main");
    check(text.includes("demo deployed") && text.includes("1 running of 1"), `the stack up: ${text.slice(0, 400)}`);
    await shot("stacks");
    await page.locator("tr", { hasText: "demo" }).locator("button", { hasText: "Down" }).click();
    await page.waitForURL(/\/stacks\?/);
    check(!(await page.locator("table").textContent()).includes("demo"), "the stack down");
  });
  await run("a request without the CSRF token is refused", async () => {
    const status = await page.evaluate(async () => (await fetch("/api/containers/web/stop", { method: "POST" })).status);
    check(status === 403, `403, got ${status}`);
  });
  await run("a sandbox with a shell, then it expires", async () => {
    await page.goto(`${base}/sandboxes`);
    await page.click("button:has-text('New sandbox')");
    await page.waitForURL(/\/sandboxes\/[0-9a-f]{64}$/);
    const url = page.url();
    await page.waitForSelector("#term[data-connected='1']");
    await page.focus("#term");
    await page.keyboard.type("echo sandbox-$((1+1)); id -u");
    await page.keyboard.press("Enter");
    await until("the sandbox's shell", async () => (await page.evaluate(() => window.berthTerm.text())).includes("sandbox-2"));
    check(/left/.test(await page.textContent(".countdown")), "a countdown");
    await shot("sandbox");
    const id = url.split("/").pop();
    await until("the sandbox removed at its time", async () => {
      await page.goto(`${base}/sandboxes`);
      return !(await page.content()).includes(id);
    }, 60000);
  });
  await run("a viewer sees but cannot act or open a console", async () => {
    const vctx = await browser.newContext({ ignoreHTTPSErrors: true });
    const v = await vctx.newPage();
    await signIn(v, viewerName, viewerPass);
    await v.waitForURL(`${base}/`);
    await v.goto(`${base}/containers`);
    check((await v.textContent("main")).includes("web"), "the viewer sees web");
    check((await v.locator("button", { hasText: "Stop" }).count()) === 0, "no action buttons");
    const status = await v.evaluate(async () => (await fetch("/api/containers/web/stop", { method: "POST", headers: { "X-CSRF-Token": document.body.dataset.csrf } })).status);
    check(status === 403, `403 for the viewer's action, got ${status}`);
    const ws = await v.evaluate(() => new Promise((res) => {
      const s = new WebSocket(`wss://${location.host}/api/containers/web/console`);
      s.onopen = () => res("open");
      s.onerror = () => res("refused");
    }));
    check(ws === "refused", `the viewer's console refused, got ${ws}`);
    page = v;
    await shot("viewer");
    await vctx.close();
  });
  console.log("ok");
  await browser.close();
} catch (e) {
  console.log(`FAILED at ${step}: ${e.message}`);
  try { await shot(`failed-${step.replace(/\W+/g, "-")}`); } catch {}
  await browser.close();
  process.exit(1);
}
