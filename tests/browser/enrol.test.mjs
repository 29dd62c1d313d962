// Browser end-to-end tests: Debian's Chromium driven by playwright-core
// under `node --test`, against the whole stack that tests/browser/
// browser.bats starts (environment: WEB_URL, WEB_SIGNET_CA, WEB_DIR,
// WEB_OP_PW). Every downloaded PKCS#12 is opened with `openssl pkcs12`
// and signs a message that `openssl cms -verify -purpose smimesign`
// accepts against the CA. Screenshots go to tests/artifacts/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shots = path.join(root, "tests/artifacts/screenshots");
const URL_ = process.env.WEB_URL;
const CA = process.env.WEB_SIGNET_CA;
const WORK = mkdtempSync(path.join(process.env.WEB_DIR || tmpdir(), "browser-"));
mkdirSync(shots, { recursive: true });

let ctx, profile;

before(async () => {
  assert.ok(URL_, "WEB_URL is not set: run through tests/browser/browser.bats");
  profile = mkdtempSync(path.join(tmpdir(), "signet-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
    ignoreHTTPSErrors: true,   // nginx's locally generated certificate
    acceptDownloads: true,
    viewport: { width: 1200, height: 900 },
  });
});

after(async () => {
  await ctx?.close();
  rmSync(profile, { recursive: true, force: true });
});

async function shot(page, name) {
  await page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
}

// A fresh page with no cookies: each test signs in for itself.
async function freshPage() {
  await ctx.clearCookies();
  const page = await ctx.newPage();
  page.on("pageerror", (e) => { throw e; });
  return page;
}

async function employeeLogin(page, login, password) {
  await page.goto(URL_ + "/login");
  await page.fill("#login", login);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL(URL_ + "/"), page.click("button[type=submit].primary")]);
}

function sh(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...opts });
}

// Opens p12 with openssl, signs a message, verifies it against the CA as
// an S/MIME signature; returns the certificate's subject and SAN.
function p12SignsAndVerifies(p12, password, name, legacy = false) {
  const pem = path.join(WORK, name + ".pem");
  sh("openssl", ["pkcs12", "-in", p12, "-passin", "pass:" + password, "-nodes",
    "-out", pem, ...(legacy ? ["-legacy"] : [])]);
  const msg = path.join(WORK, name + ".txt");
  writeFileSync(msg, "Signed by " + name + " with a certificate from Signet.\n");
  const sig = path.join(WORK, name + ".p7m");
  sh("openssl", ["cms", "-sign", "-in", msg, "-signer", pem, "-out", sig]);
  const out = sh("openssl", ["cms", "-verify", "-in", sig, "-CAfile", CA, "-purpose", "smimesign"]);
  assert.match(out, /Signed by/);
  return sh("openssl", ["x509", "-in", pem, "-noout", "-subject", "-ext", "subjectAltName"]);
}

async function browserEnrol(page, keyType, password) {
  await page.goto(URL_ + "/enrol");
  await page.selectOption("#b-keytype", keyType);
  await page.fill("#b-password", password);
  await page.fill("#b-password2", password);
  await shot(page, "enrol");
}

test("alice creates a P-256 key in her browser and saves a PKCS#12 that signs", async () => {
  const page = await freshPage();
  await employeeLogin(page, "alice", "alice-demo-pw");
  await shot(page, "home-empty");
  await browserEnrol(page, "p256", "alice-browser-pw");
  const [dl] = await Promise.all([
    page.waitForEvent("download", { timeout: 60000 }),
    page.click("#b-submit"),
  ]);
  const p12 = path.join(WORK, "alice-browser.p12");
  await dl.saveAs(p12);
  await page.waitForSelector("#browser-status.ok");
  await shot(page, "enrol-browser-done");
  const info = p12SignsAndVerifies(p12, "alice-browser-pw", "alice-browser");
  assert.match(info, /email:alice@example.com/);
  // PBES2 with AES-256 and a SHA-256 MAC: the modern format
  const all = execFileSync("sh", ["-c", `openssl pkcs12 -info -in '${p12}' -passin pass:alice-browser-pw -noout 2>&1`], { encoding: "utf8" });
  assert.match(all, /MAC: sha256/);
  assert.match(all, /PBES2, PBKDF2, AES-256-CBC/);
  await page.goto(URL_ + "/");
  await shot(page, "home");
  await page.close();
});

test("bob creates an RSA-3072 key in his browser", async () => {
  const page = await freshPage();
  await employeeLogin(page, "bob", "bob-demo-pw");
  await browserEnrol(page, "rsa3072", "bob-browser-pw1");
  const [dl] = await Promise.all([
    page.waitForEvent("download", { timeout: 60000 }),
    page.click("#b-submit"),
  ]);
  const p12 = path.join(WORK, "bob-browser.p12");
  await dl.saveAs(p12);
  const info = p12SignsAndVerifies(p12, "bob-browser-pw1", "bob-browser");
  assert.match(info, /email:bob@example.com/);
  const key = sh("openssl", ["pkcs12", "-in", p12, "-passin", "pass:bob-browser-pw1", "-nocerts", "-nodes"]);
  assert.match(sh("openssl", ["pkey", "-noout", "-text"], { input: key }), /3072 bit/);
  await page.close();
});

test("alice uploads her own CSR file and signs with the certificate she downloads", async () => {
  const key = path.join(WORK, "own.key"), csr = path.join(WORK, "own.csr");
  sh("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", key, "-subj", "/CN=alice", "-outform", "DER", "-out", csr]);
  const page = await freshPage();
  await employeeLogin(page, "alice", "alice-demo-pw");
  await page.goto(URL_ + "/enrol");
  await page.setInputFiles("#csr-file", csr);
  await page.waitForFunction(() => document.getElementById("csr").value.length > 100);
  await Promise.all([page.waitForURL(/\/requests\/\d+$/), page.click("#csr-submit")]);
  await page.waitForSelector("#req-state.issued, .badge.issued", { timeout: 20000 });
  await page.reload();
  await shot(page, "request-issued-csr");
  const [dl] = await Promise.all([page.waitForEvent("download"),
    page.click("a[href$='.pem']")]);
  const cert = path.join(WORK, "own.pem");
  await dl.saveAs(cert);
  const p12 = path.join(WORK, "own.p12");
  sh("openssl", ["pkcs12", "-export", "-inkey", key, "-in", cert, "-certfile", CA,
    "-passout", "pass:own-csr-pw", "-out", p12]);
  assert.match(p12SignsAndVerifies(p12, "own-csr-pw", "own-csr"), /email:alice@example.com/);
  await page.close();
});

test("bob has the server make his key and downloads it as PKCS#12 once", async () => {
  const page = await freshPage();
  await employeeLogin(page, "bob", "bob-demo-pw");
  await page.goto(URL_ + "/enrol");
  await page.fill("#s-password", "bob-server-pw1");
  await page.fill("#s-password2", "bob-server-pw1");
  await Promise.all([page.waitForURL(/\/requests\/\d+$/), page.click("#s-submit")]);
  await page.waitForSelector("#pickup-form", { timeout: 20000 });
  await shot(page, "request-pickup");
  await page.fill("#p-password", "bob-server-pw1");
  await page.selectOption("#p-format", "compatible");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#p-submit")]);
  const p12 = path.join(WORK, "bob-server.p12");
  await dl.saveAs(p12);
  assert.match(p12SignsAndVerifies(p12, "bob-server-pw1", "bob-server", true), /email:bob@example.com/);
  await page.reload();
  assert.equal(await page.locator("#pickup-form").count(), 0, "the key is gone after pickup");
  await page.close();
});

test("carol's browser request pends; an officer approves; carol saves her PKCS#12", async () => {
  const page = await freshPage();
  await employeeLogin(page, "carol", "carol-demo-pw");
  await browserEnrol(page, "p256", "carol-browser-pw");
  await page.click("#b-submit");
  await page.waitForSelector("#browser-status.wait", { timeout: 30000 });
  await shot(page, "enrol-browser-pending");
  const href = await page.getAttribute("#browser-status a", "href");
  const id = href.split("/").pop();
  await page.goto(URL_ + href);
  await page.waitForSelector("#pending-note");
  await shot(page, "request-pending");

  // the officer signs in to the console in the same browser (carol's
  // cookies are set aside and put back afterwards)
  const cookies = await ctx.cookies();
  await ctx.clearCookies();
  const admin = await ctx.newPage();
  await admin.goto(URL_ + "/admin/login");
  await shot(admin, "admin-login");
  await admin.fill("#name", "olivia");
  await admin.fill("#password", readFileSync(process.env.WEB_OP_PW, "utf8").trim());
  await Promise.all([admin.waitForURL(URL_ + "/admin"), admin.click("button[type=submit].primary")]);
  await shot(admin, "admin-queue");
  await admin.click(`a[href="/admin/requests/${id}"]`);
  await shot(admin, "admin-request");
  await admin.fill("#reason", "known to the help desk");
  await Promise.all([admin.waitForURL(URL_ + `/admin/requests/${id}`), admin.click("#approve")]);
  await admin.goto(URL_ + "/admin/certs?mail=carol%40example.com");
  await shot(admin, "admin-certs");
  await admin.goto(URL_ + "/admin/audit");
  await shot(admin, "admin-audit");
  await admin.close();

  // carol again, in the same browser that holds her key
  await ctx.clearCookies();
  await ctx.addCookies(cookies);
  await page.goto(URL_ + `/requests/${id}`);
  await page.waitForSelector("#browser-p12:not([hidden])", { timeout: 20000 });
  await shot(page, "request-issued-browser");
  await page.fill("#bp-password", "carol-p12-pw1");
  await page.fill("#bp-password2", "carol-p12-pw1");
  const [dl] = await Promise.all([page.waitForEvent("download"), page.click("#bp-submit")]);
  const p12 = path.join(WORK, "carol.p12");
  await dl.saveAs(p12);
  assert.match(p12SignsAndVerifies(p12, "carol-p12-pw1", "carol"), /email:carol@example.com/);
  await page.close();
});

test("public pages: the CA certificate and a colleague lookup", async () => {
  const page = await freshPage();
  await page.goto(URL_ + "/ca");
  await shot(page, "ca");
  const fp = sh("openssl", ["x509", "-in", CA, "-noout", "-fingerprint", "-sha256"]).split("=")[1].trim();
  assert.equal((await page.textContent("#ca-sha256")).trim(), fp);
  await page.goto(URL_ + "/lookup");
  await page.fill("#mail", "alice@example.com");
  await Promise.all([page.waitForURL(/lookup\?mail=/), page.click("button[type=submit].primary")]);
  await page.waitForSelector("#found");
  await shot(page, "lookup");
  await page.goto(URL_ + "/login");
  await shot(page, "login");
  await page.close();
});

test("alice revokes her own certificate from her home page after confirming", async () => {
  const key = path.join(WORK, "rv.key"), csr = path.join(WORK, "rv.csr");
  sh("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
    "-nodes", "-keyout", key, "-subj", "/CN=alice", "-out", csr]);
  const page = await freshPage();
  await employeeLogin(page, "alice", "alice-demo-pw");
  await page.goto(URL_ + "/enrol");
  await page.fill("#csr", readFileSync(csr, "utf8"));
  await Promise.all([page.waitForURL(/\/requests\/\d+$/), page.click("#csr-submit")]);
  await page.waitForSelector("#req-state.issued, .badge.issued", { timeout: 20000 });
  await page.reload();
  const serial = await page.getAttribute("#request", "data-serial");
  assert.match(serial, /^[0-9a-f]+$/);
  await page.goto(URL_ + "/");
  await page.click(`#cert-${serial} a.revoke-link`);
  await page.waitForSelector("#revoke-reason-form");
  await shot(page, "self-revoke-reason");
  await page.check("#why-superseded");
  await page.click("#revoke-next");
  await page.waitForSelector("#revoke-confirm-note");
  assert.match(await page.textContent("#revoke-confirm-note"), /replaced by a new certificate/);
  await shot(page, "self-revoke-confirm");
  await Promise.all([page.waitForURL(URL_ + "/"), page.click("#revoke-confirm")]);
  await page.waitForSelector(`#cert-${serial} .badge.revoked`);
  assert.equal(await page.locator(`#cert-${serial} a.revoke-link`).count(), 0);
  await shot(page, "self-revoke-done");
  await page.close();
});
