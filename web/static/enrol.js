// Signet enrolment in the browser (DESIGN.md, key sources 1): WebCrypto
// makes the key, PKI.js (build/vendor/pki.js, served by the site) builds
// the PKCS#10 and, once the certificate is issued, the PKCS#12. The
// private key never leaves the browser; between submission and issue it
// waits in this browser's IndexedDB, keyed by the request number.
// Loaded by the enrolment page and the request page; no inline script
// (the Content-Security-Policy forbids it).
"use strict";
(function () {
  const { pkijs, asn1js } = window.SignetPKI;
  const subtle = window.crypto.subtle;
  const $ = (id) => document.getElementById(id);

  // ---- the key store: IndexedDB, one record per request ----
  function db() {
    return new Promise((resolve, reject) => {
      const r = indexedDB.open("signet-keys", 1);
      r.onupgradeneeded = () => r.result.createObjectStore("keys");
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }
  async function keyPut(id, value) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction("keys", "readwrite");
      t.objectStore("keys").put(value, String(id));
      t.oncomplete = () => resolve();
      t.onerror = () => reject(t.error);
    });
  }
  async function keyGet(id) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const r = d.transaction("keys").objectStore("keys").get(String(id));
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
  }

  function say(el, text, kind) {
    el.textContent = text;
    el.className = "status" + (kind ? " " + kind : "");
  }

  // ---- the request: PKCS#10 (RFC 2986) signed with the new key ----
  const ALGS = {
    p256: { gen: { name: "ECDSA", namedCurve: "P-256" }, hash: "SHA-256" },
    rsa3072: { gen: { name: "RSASSA-PKCS1-v1_5", modulusLength: 3072,
      publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, hash: "SHA-256" },
  };

  async function makeCsr(keys, mail, hash) {
    const csr = new pkijs.CertificationRequest();
    // The CA takes subject and SAN from the directory; the CN here only
    // names the request for the person who reads it.
    csr.subject.typesAndValues.push(new pkijs.AttributeTypeAndValue({
      type: "2.5.4.3", value: new asn1js.Utf8String({ value: mail }) }));
    // RFC 2986 4.1: attributes is not optional; an empty SET is [0] {}.
    csr.attributes = [];
    await csr.subjectPublicKeyInfo.importKey(keys.publicKey);
    await csr.sign(keys.privateKey, hash);
    return pem("CERTIFICATE REQUEST", csr.toSchema().toBER(false));
  }

  function pem(label, der) {
    const b = new Uint8Array(der);
    let s = "";
    for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    const lines = btoa(s).match(/.{1,64}/g).join("\n");
    return "-----BEGIN " + label + "-----\n" + lines + "\n-----END " + label + "-----\n";
  }

  // ---- the PKCS#12 (RFC 7292): PBES2 AES-256-CBC, HMAC-SHA-256 MAC ----
  async function makeP12(privateKey, certDer, caDer, password, friendly) {
    const pw = new TextEncoder().encode(password).buffer;
    const pkcs8 = await subtle.exportKey("pkcs8", privateKey);
    const localId = new Uint8Array(await subtle.digest("SHA-1", certDer)).buffer;
    const attrs = [
      new pkijs.Attribute({ type: "1.2.840.113549.1.9.20", // friendlyName
        values: [new asn1js.BmpString({ value: friendly })] }),
      new pkijs.Attribute({ type: "1.2.840.113549.1.9.21", // localKeyId
        values: [new asn1js.OctetString({ valueHex: localId })] }),
    ];
    const certBag = (der, withAttrs) => new pkijs.SafeBag({
      bagId: "1.2.840.113549.1.12.10.1.3",
      bagValue: new pkijs.CertBag({ parsedValue: pkijs.Certificate.fromBER(der) }),
      bagAttributes: withAttrs ? attrs : undefined,
    });
    const pfx = new pkijs.PFX({
      parsedValue: {
        integrityMode: 0,
        authenticatedSafe: new pkijs.AuthenticatedSafe({
          parsedValue: {
            safeContents: [
              { privacyMode: 0, value: new pkijs.SafeContents({ safeBags: [
                new pkijs.SafeBag({
                  bagId: "1.2.840.113549.1.12.10.1.2",
                  bagValue: new pkijs.PKCS8ShroudedKeyBag({
                    parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8) }),
                  bagAttributes: attrs,
                }) ] }) },
              { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: [
                certBag(certDer, true), certBag(caDer, false) ] }) },
            ],
          },
        }),
      },
    });
    const enc = { password: pw, contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 },
      hmacHashAlgorithm: "SHA-256", iterationCount: 100000 };
    await pfx.parsedValue.authenticatedSafe.parsedValue.safeContents[0]
      .value.safeBags[0].bagValue.makeInternalValues(enc);
    await pfx.parsedValue.authenticatedSafe.makeInternalValues({ safeContents: [{}, enc] });
    await pfx.makeInternalValues({ password: pw, iterations: 100000,
      pbkdf2HashAlgorithm: "SHA-256", hmacHashAlgorithm: "SHA-256" });
    return pfx.toSchema().toBER(false);
  }

  function download(data, name, type) {
    const url = URL.createObjectURL(new Blob([data], { type }));
    const a = document.createElement("a");
    a.href = url;
    a.download = name;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  async function fetchDer(url) {
    const r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) throw new Error("could not fetch " + url + " (" + r.status + ")");
    return r.arrayBuffer();
  }

  async function saveP12(id, serial, mail, password, status) {
    const rec = await keyGet(id);
    if (!rec) throw new Error("This browser does not hold the key of request " + id +
      ". Use the browser (and profile) in which you made the request.");
    say(status, "Building your PKCS#12 file…");
    const cert = await fetchDer("/certs/" + serial + ".der");
    const ca = await fetchDer("/ca.crt");
    const p12 = await makeP12(rec.privateKey, cert, ca, password, mail);
    download(p12, mail.replace(/[^A-Za-z0-9.@_-]/g, "_") + ".p12", "application/x-pkcs12");
    say(status, "Saved " + mail + ".p12. Open it in your mail program with the password you chose.", "ok");
  }

  // Polls the status endpoint until the request leaves "submitted"
  // (or "approved", which ca-serve is about to issue).
  async function poll(id, onState) {
    for (let i = 0; ; i++) {
      const r = await fetch("/requests/" + id + "/status", { credentials: "same-origin" });
      const j = await r.json();
      if (!r.ok) throw new Error(j.error || "status " + r.status);
      if (j.state !== "submitted" && j.state !== "approved") return j;
      onState(j);
      await new Promise((ok) => setTimeout(ok, i < 20 ? 500 : 3000));
    }
  }

  // ---- the enrolment page ----
  const form = $("browser-form");
  if (form) {
    form.hidden = false;
    const status = $("browser-status");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const pw = $("b-password").value, pw2 = $("b-password2").value;
      if (pw.length < 10) return say(status, "The password must have at least 10 characters.", "bad");
      if (pw !== pw2) return say(status, "The two passwords are not the same.", "bad");
      // Key recovery on: the server also makes the encryption key, kept
      // for pickup under its own password (never this file's password).
      const dual = form.dataset.kra === "yes";
      const epw = dual ? $("b-epassword").value : "", epw2 = dual ? $("b-epassword2").value : "";
      if (dual && epw.length < 10)
        return say(status, "The encryption key's password must have at least 10 characters.", "bad");
      if (dual && epw !== epw2)
        return say(status, "The two encryption key passwords are not the same.", "bad");
      $("b-submit").disabled = true;
      try {
        const alg = ALGS[$("b-keytype").value];
        say(status, "Making your key in this browser…");
        const keys = await subtle.generateKey(alg.gen, true, ["sign", "verify"]);
        const csr = await makeCsr(keys, form.dataset.mail, alg.hash);
        say(status, "Sending the request…");
        const body = new URLSearchParams({ csrf: form.dataset.csrf, csr });
        if (dual) { body.set("password", epw); body.set("password2", epw2); }
        const r = await fetch("/enrol/browser", { method: "POST", body, credentials: "same-origin" });
        const j = await r.json();
        if (!r.ok) throw new Error(j.error || "the request was refused (" + r.status + ")");
        await keyPut(j.id, { privateKey: keys.privateKey, made: Date.now() });
        say(status, "Request " + j.id + " sent; waiting for the decision…");
        const s = await poll(j.id, () => {});
        if (s.state === "issued") {
          await saveP12(j.id, s.serial, s.email, pw, status);
          if (j.encryption_id)
            status.insertAdjacentHTML("beforeend", ' <a id="collect-enc" href="' + j.url +
              '">Collect your encryption key</a>');
          status.insertAdjacentHTML("beforeend", ' <a href="/">Back to my certificates</a>');
        } else if (s.state === "pending") {
          say(status, "Your request (" + j.id + ") waits for a PKI officer: " + s.reason +
            ". The key stays in this browser; come back to this browser when it is approved.", "wait");
          status.insertAdjacentHTML("beforeend", ' <a href="' + j.url + '">Follow the request</a>');
        } else {
          say(status, "The request was denied: " + s.reason, "bad");
        }
      } catch (e) {
        say(status, "Something went wrong: " + e.message, "bad");
      } finally {
        $("b-submit").disabled = false;
      }
    });
  }

  // File upload for the CSR way: PEM as text, DER as base64.
  const file = $("csr-file");
  if (file) {
    file.addEventListener("change", async () => {
      const f = file.files[0];
      if (!f) return;
      const buf = new Uint8Array(await f.arrayBuffer());
      let bin = "";
      for (let i = 0; i < buf.length; i++) bin += String.fromCharCode(buf[i]);
      // PEM is sent as it is; DER as base64, which the server decodes.
      $("csr").value = bin.includes("-----BEGIN") ? bin :
        btoa(bin).match(/.{1,64}/g).join("\n");
    });
  }

  // ---- the request page ----
  const req = $("request");
  if (req) {
    const id = req.dataset.id, live = $("live-status");
    const state = req.dataset.state;
    if (state === "submitted" || state === "approved") {
      say(live, "Waiting for the decision…");
      poll(id, () => {}).then(() => location.reload(),
        (e) => say(live, "Could not follow the request: " + e.message, "bad"));
    } else if (state === "pending") {
      // A PKI officer decides; look again every ten seconds.
      const tick = async () => {
        const r = await fetch("/requests/" + id + "/status", { credentials: "same-origin" });
        const j = await r.json();
        if (j.state && j.state !== "pending") location.reload();
        else setTimeout(tick, 10000);
      };
      setTimeout(tick, 10000);
    }
    const box = $("browser-p12");
    if (box && state === "issued") {
      keyGet(id).then((rec) => {
        if (!rec) {
          say(live, "The key of this request is not in this browser; only the browser that made it can save the PKCS#12.", "wait");
          return;
        }
        box.hidden = false;
        $("browser-p12-form").addEventListener("submit", async (ev) => {
          ev.preventDefault();
          const pw = $("bp-password").value;
          if (pw.length < 10) return say(live, "The password must have at least 10 characters.", "bad");
          if (pw !== $("bp-password2").value) return say(live, "The two passwords are not the same.", "bad");
          try {
            await saveP12(id, req.dataset.serial, req.dataset.mail, pw, live);
          } catch (e) {
            say(live, "Something went wrong: " + e.message, "bad");
          }
        });
      });
    }
  }
})();
