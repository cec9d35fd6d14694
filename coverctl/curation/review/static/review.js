// coverctl review: thumbnails, filters, keyboard shortcuts and actions. No framework, no build.
// Every value from the server is put in the page as text (textContent), never as markup.
(function () {
  "use strict";
  var token = document.querySelector('meta[name="coverctl-token"]').content;
  var statusLine = document.getElementById("status");
  var shown = document.getElementById("shown");
  var panel = document.getElementById("panel");
  var panelBody = document.getElementById("panel-body");
  var panelTitle = document.getElementById("panel-title");
  var filters = ["filter-source", "filter-problem", "filter-status"].map(function (id) {
    return document.getElementById(id);
  });
  var current = null;

  function cards() { return Array.prototype.slice.call(document.querySelectorAll("article.card")); }
  function visibleCards() { return cards().filter(function (c) { return !c.hidden; }); }
  function say(text) { statusLine.textContent = text || ""; }

  // -- thumbnails: fetched when a card comes into view; a failure shows why ------------------
  function showWhy(img, problem) {
    var why = img.parentNode.querySelector(".why");
    img.hidden = true;
    if (why) { why.textContent = problem || "no picture"; why.hidden = false; }
  }
  function loadThumb(img) {
    var src = img.getAttribute("data-thumb");
    if (!src || img.getAttribute("data-loaded") === src) { return; }
    img.setAttribute("data-loaded", src);
    var why = img.parentNode.querySelector(".why");
    if (why) { why.hidden = true; }
    fetch(src, { credentials: "same-origin" }).then(function (response) {
      if (response.ok) {
        return response.blob().then(function (blob) {
          if (img.src && img.src.indexOf("blob:") === 0) { URL.revokeObjectURL(img.src); }
          img.src = URL.createObjectURL(blob);
          img.hidden = false;
        });
      }
      return response.json().then(function (body) { showWhy(img, body.problem); });
    }).catch(function () { showWhy(img, "unreachable"); });
  }
  var observer = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) { loadThumb(entry.target); }
    });
  }, { rootMargin: "400px" }) : null;
  function watch(img) { if (observer) { observer.observe(img); } else { loadThumb(img); } }
  document.querySelectorAll("img[data-thumb]").forEach(watch);

  // -- filters ------------------------------------------------------------------------------
  function applyFilters() {
    var source = filters[0].value, problem = filters[1].value, status = filters[2].value, n = 0;
    cards().forEach(function (card) {
      var d = card.dataset;
      var ok = (source === "" || (d.source || "none") === source) &&
        (problem === "" || (" " + d.problems + " ").indexOf(" " + problem + " ") >= 0) &&
        (status === "" || d.status === status || d.decision === status);
      card.hidden = !ok;
      if (ok) { n++; }
    });
    shown.textContent = n;
    if (current && current.hidden) { select(visibleCards()[0] || null); }
  }
  filters.forEach(function (f) { f.addEventListener("change", applyFilters); });

  // -- the current card ---------------------------------------------------------------------
  function select(card) {
    if (current) { current.classList.remove("cur"); }
    current = card;
    if (card) {
      card.classList.add("cur");
      card.focus({ preventScroll: true });
      card.scrollIntoView({ block: "nearest" });
    }
  }
  function step(by) {
    var list = visibleCards();
    if (!list.length) { return; }
    var at = list.indexOf(current);
    select(list[Math.max(0, Math.min(list.length - 1, at < 0 ? 0 : at + by))]);
  }

  // -- actions ------------------------------------------------------------------------------
  function post(card, action, body) {
    card.classList.add("busy");
    say("");
    return fetch("/api/cards/" + encodeURIComponent(card.dataset.id) + "/" + action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-Coverctl-Token": token },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
        update(card, data);
        return data;
      });
    }).catch(function (error) { say(error.message); })
      .then(function (data) { card.classList.remove("busy"); return data; });
  }
  function text(card, selector, value) {
    card.querySelector(selector).textContent = value === null || value === undefined || value === ""
      ? "—" : String(value);
  }
  function update(card, data) {
    card.dataset.source = data.source || "";
    card.dataset.status = data.status;
    card.dataset.decision = data.decision || "";
    card.dataset.url = data.image_url || "";
    card.dataset.problems = data.problems.join(" ");
    text(card, ".person", data.person);
    text(card, ".credit", data.credit);
    text(card, ".source", data.source);
    text(card, ".score", data.quality_score);
    card.querySelector(".state").textContent = data.decision || "";
    card.querySelector(".msg").textContent = data.message || "";
    var badges = card.querySelector(".problems");
    badges.textContent = "";
    data.problems.forEach(function (p) {
      var b = document.createElement("span");
      b.className = "b";
      b.textContent = p.replace(/_/g, " ");
      badges.appendChild(b);
    });
    var details = card.querySelector(".dl");
    details.textContent = "";
    data.details.forEach(function (d) {
      if (!d) { return; }
      var li = document.createElement("li");
      li.textContent = d;
      details.appendChild(li);
    });
    var img = card.querySelector("img.th");
    if (data.thumb) {
      img.setAttribute("data-thumb", data.thumb);
      loadThumb(img);
    } else {
      img.removeAttribute("data-thumb");
      showWhy(img, data.status === "resolved" ? "no picture" : "not found");
    }
    card.dataset.version = String(Number(card.dataset.version || "0") + 1);
  }

  // -- alternatives ---------------------------------------------------------------------------
  var panelCard = null;
  function closePanel() { panel.hidden = true; panelCard = null; panelBody.textContent = ""; }
  function openPanel(card) {
    panelCard = card;
    panel.hidden = false;
    panelTitle.textContent = card.querySelector("h2").textContent + " — loading…";
    panelBody.textContent = "";
    fetch("/api/cards/" + encodeURIComponent(card.dataset.id) + "/candidates", {
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
        return data;
      });
    }).then(function (data) {
      if (panelCard !== card) { return; }
      panelTitle.textContent = card.querySelector("h2").textContent + ": " +
        data.candidates.length + " candidates";
      data.candidates.forEach(function (c) { panelBody.appendChild(alternative(card, c)); });
      panel.dataset.loaded = card.dataset.id;
    }).catch(function (error) { say(error.message); closePanel(); });
  }
  function alternative(card, c) {
    var fig = document.createElement("figure");
    fig.className = "alt" + (c.served ? " served" : "") + (c.rejected ? " rejected" : "");
    fig.dataset.number = c.number;
    fig.dataset.url = c.image_url;
    var pic = document.createElement("div");
    pic.className = "pic";
    var img = document.createElement("img");
    img.className = "th";
    img.alt = "candidate " + c.number;
    var why = document.createElement("div");
    why.className = "why";
    why.hidden = true;
    pic.appendChild(img);
    pic.appendChild(why);
    fig.appendChild(pic);
    if (c.thumb) { img.setAttribute("data-thumb", c.thumb); loadThumb(img); }
    var info = document.createElement("figcaption");
    info.className = "info";
    var size = c.width && c.height ? c.width + "×" + c.height : "size unknown";
    [
      c.number + ". " + c.source + " · score " + c.quality_score,
      size,
      c.matched.person || c.matched.character || "",
    ].forEach(function (line) {
      var div = document.createElement("div");
      div.textContent = line;
      info.appendChild(div);
    });
    var marks = document.createElement("div");
    marks.className = "marks";
    marks.textContent = [c.served ? "served" : "", c.pinned ? "pinned" : "",
      c.rejected ? "rejected" : "", c.problem || ""].filter(Boolean).join(" · ");
    info.appendChild(marks);
    fig.appendChild(info);
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = "Pin this (" + c.number + ")";
    button.disabled = Boolean(c.pinned);
    button.addEventListener("click", function () { pinNumber(card, c.number); });
    fig.appendChild(button);
    return fig;
  }
  function pinNumber(card, number) {
    return post(card, "pin", { number: number }).then(function (data) {
      if (data) { closePanel(); select(card); }
    });
  }

  // -- wiring ---------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-act]");
    var card = event.target.closest("article.card");
    if (card) { select(card); }
    if (!button || !card) { return; }
    run(button.getAttribute("data-act"), card);
  });
  document.getElementById("panel-close").addEventListener("click", closePanel);
  function run(action, card) {
    if (!card) { return; }
    if (action === "alternatives") { openPanel(card); return; }
    post(card, action);
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "select" || tag === "input" || tag === "textarea") { return; }
    var key = event.key;
    if (!panel.hidden) {
      if (key === "Escape") { closePanel(); event.preventDefault(); }
      else if (/^[1-9]$/.test(key) && panelCard) { pinNumber(panelCard, Number(key)); event.preventDefault(); }
      return;
    }
    if (key === "j" || key === "n") { step(1); }
    else if (key === "k") { step(-1); }
    else if (key === "a") { run("accept", current); }
    else if (key === "r") { run("reject", current); }
    else if (key === "o" || key === "Enter") { run("alternatives", current); }
    else { return; }
    event.preventDefault();
  });
  applyFilters();
  select(visibleCards()[0] || null);
})();
