// laporbot web chat. No framework, no external assets. Every word shown comes from the
// server-rendered catalog texts in #texts. The client id lives in localStorage; the server keeps
// the conversation, so a reload shows it again.
"use strict";
(function () {
  const texts = JSON.parse(document.getElementById("texts").textContent);
  const log = document.getElementById("log");
  const statusLine = document.getElementById("status");
  const form = document.getElementById("composer");
  const box = document.getElementById("message");
  const startRow = document.getElementById("start-row");
  const startButton = document.getElementById("start");
  const locateButton = document.getElementById("locate");
  const resetButton = document.getElementById("reset");
  const photoInput = document.getElementById("photo");
  const MAX_PHOTO_BYTES = 5 * 1024 * 1024;
  const KEY = "laporbot.client_id";
  const api = new URL("api/chat/", document.baseURI);

  function randomId(bytes) {
    const raw = new Uint8Array(bytes);
    crypto.getRandomValues(raw);
    return Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  let clientId = localStorage.getItem(KEY);
  if (!clientId || !/^[A-Za-z0-9_-]{8,64}$/.test(clientId)) {
    clientId = randomId(16);
    localStorage.setItem(KEY, clientId);
  }
  let cursor = 0;
  let generation = 0; // bumps on "new conversation" so stale polls stop
  const shown = new Set();

  function format(template, params) {
    return template.replace(/\{(\w+)\}/g, (m, k) => (k in params ? String(params[k]) : m));
  }

  function showStatus(text) {
    statusLine.textContent = text || "";
    statusLine.hidden = !text;
  }

  function disableOldChoices() {
    log.querySelectorAll(".choices button").forEach((b) => { b.disabled = true; });
  }

  function addMessage(message) {
    if (message.key && shown.has(message.key)) return;
    if (message.key) shown.add(message.key);
    startRow.hidden = true;
    document.body.classList.add("started");
    const item = document.createElement("li");
    item.className = message.from === "bot" ? "from-bot" : "from-me";
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = (message.from === "bot" ? texts.bot : texts.you) + ": ";
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    bubble.appendChild(who);
    bubble.appendChild(document.createTextNode(message.text));
    item.appendChild(bubble);
    if (message.from === "bot") {
      disableOldChoices();
      if (message.buttons && message.buttons.length) {
        const choices = document.createElement("div");
        choices.className = "choices";
        message.buttons.forEach((option) => {
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = option.label;
          button.addEventListener("click", () => {
            disableOldChoices();
            send({ choice: option.id }, option.label);
            box.focus();
          });
          choices.appendChild(button);
        });
        item.appendChild(choices);
      }
      if (message.request_location && "geolocation" in navigator) {
        locateButton.classList.add("primary");
      }
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  // Sends go one at a time, in order; a failed send is retried with the same message id, which
  // the server's inbox deduplicates, so a retry never doubles a message.
  const queue = [];
  let sending = false;

  function send(fields, shownText) {
    const body = Object.assign({
      client_id: clientId,
      message_id: randomId(12),
      lang: document.documentElement.lang,
    }, fields);
    if (!("text" in fields)) body.display = shownText;
    addMessage({ from: "me", text: shownText, key: "me:" + body.message_id });
    queue.push(body);
    pump();
  }

  async function pump() {
    if (sending) return;
    sending = true;
    try {
      while (queue.length) {
        const body = queue[0];
        if (body.client_id !== clientId) { queue.shift(); continue; }
        let delay = 1000;
        for (;;) {
          try {
            const response = await fetch(new URL("send", api), {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify(body),
            });
            if (response.status === 429) {
              // Sending too fast: wait as told and send the same message again.
              showStatus(texts.slow_down);
              const seconds = Number(response.headers.get("Retry-After")) || 2;
              await new Promise((r) => setTimeout(r, seconds * 1000));
              continue;
            }
            if (response.ok || (response.status >= 400 && response.status < 500)) {
              if (!response.ok) showStatus(texts.send_failed);
              else showStatus("");
              break;
            }
          } catch (e) { /* offline: retry below */ }
          showStatus(texts.offline);
          await new Promise((r) => setTimeout(r, delay));
          delay = Math.min(delay * 2, 15000);
        }
        queue.shift();
      }
    } finally {
      sending = false;
    }
  }

  async function loadHistory(mine) {
    const url = new URL("history", api);
    url.searchParams.set("client_id", clientId);
    const response = await fetch(url);
    if (!response.ok) throw new Error("history " + response.status);
    const data = await response.json();
    if (mine !== generation) return;
    data.messages.forEach(addMessage);
    cursor = data.cursor;
    if (!data.messages.length) startRow.hidden = false;
  }

  async function poll(mine) {
    let delay = 1000;
    for (;;) {
      if (mine !== generation) return;
      try {
        if (cursor === null) { await loadHistory(mine); continue; }
        const url = new URL("messages", api);
        url.searchParams.set("client_id", clientId);
        url.searchParams.set("after", String(cursor));
        url.searchParams.set("wait", "25");
        const response = await fetch(url);
        if (!response.ok) throw new Error("poll " + response.status);
        const data = await response.json();
        if (mine !== generation) return;
        data.messages.forEach(addMessage);
        cursor = data.cursor;
        showStatus("");
        delay = 1000;
      } catch (e) {
        showStatus(texts.offline);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    box.value = "";
    send({ text: text }, text);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  startButton.addEventListener("click", () => {
    startRow.hidden = true;
    send({ text: texts.start_text }, texts.start_text);
    box.focus();
  });
  if (!("geolocation" in navigator)) {
    locateButton.hidden = true;
  }
  locateButton.addEventListener("click", () => {
    showStatus(texts.locating);
    navigator.geolocation.getCurrentPosition(
      (position) => {
        showStatus("");
        locateButton.classList.remove("primary");
        const where = { latitude: position.coords.latitude, longitude: position.coords.longitude };
        send({ location: where }, format(texts.location_sent, {
          latitude: where.latitude.toFixed(5), longitude: where.longitude.toFixed(5),
        }));
      },
      () => { showStatus(texts.location_failed); box.focus(); },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 },
    );
  });
  photoInput.addEventListener("change", async () => {
    const file = photoInput.files && photoInput.files[0];
    photoInput.value = "";
    if (!file) return;
    if (file.size > MAX_PHOTO_BYTES) { showStatus(texts.photo_too_big); return; }
    const messageId = randomId(12);
    addMessage({ from: "me", text: texts.photo_sent, key: "me:" + messageId });
    const form = new FormData();
    form.append("client_id", clientId);
    form.append("message_id", messageId);
    form.append("lang", document.documentElement.lang);
    form.append("display", texts.photo_sent);
    form.append("photo", file);
    try {
      for (;;) {
        const response = await fetch(new URL("photo", api), { method: "POST", body: form });
        if (response.status === 429) {
          showStatus(texts.slow_down);
          const seconds = Number(response.headers.get("Retry-After")) || 2;
          await new Promise((r) => setTimeout(r, seconds * 1000));
          continue;
        }
        showStatus(response.ok ? "" : (response.status === 413 ? texts.photo_too_big : texts.send_failed));
        break;
      }
    } catch (e) {
      showStatus(texts.send_failed);
    }
  });
  resetButton.addEventListener("click", () => {
    if (!window.confirm(texts.new_chat_confirm)) return;
    clientId = randomId(16);
    localStorage.setItem(KEY, clientId);
    generation += 1;
    cursor = null;
    shown.clear();
    log.textContent = "";
    document.body.classList.remove("started");
    startRow.hidden = false;
    poll(generation);
  });

  startRow.hidden = true;
  cursor = null;
  poll(generation);
})();
