// Kairos dashboard: sign-in from a link, and live run rows over server-sent events.
"use strict";
(function () {
  // A sign-in link (`kairos ui`) carries the token in the fragment, which no server
  // sees: put it in the form and post it, then drop it from the address bar.
  var form = document.getElementById("signin-form");
  if (form && location.hash.indexOf("#token=") === 0) {
    var token = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname + location.search);
    form.elements.token.value = token;
    form.submit();
    return;
  }

  var announcer = document.getElementById("live-announcer");
  function announce(text) {
    if (announcer) { announcer.textContent = text; }
  }

  var body = document.querySelector("[data-live-runs]");
  var single = document.querySelector("[data-live-run]");
  var lastRun = document.querySelectorAll("[data-last-run]");
  if (!body && !single && !lastRun.length) { return; }
  var query = new URLSearchParams((body || single || {dataset: {}}).dataset.feed || "");
  if (body && body.dataset.names) { query.set("names", "1"); }
  var since = document.querySelector('meta[name="kairos-since"]');
  if (since) { query.set("since", since.content); }
  query.set("back", location.pathname + location.search.replace(/([?&])done=[^&]*&?/, "$1").replace(/[?&]$/, ""));
  var source = new EventSource("/ui/events?" + query.toString());
  document.documentElement.dataset.live = "connecting";
  source.addEventListener("ready", function () {
    var root = document.documentElement;
    root.dataset.live = "on";
    root.dataset.streams = String(Number(root.dataset.streams || "0") + 1);
  });
  source.addEventListener("signedout", function () {
    source.close();
    location.href = "/ui/signin?expired=1&next=" + encodeURIComponent(location.pathname);
  });
  source.addEventListener("run", function (event) {
    var run = JSON.parse(event.data);
    if (single) {
      if (single.dataset.liveRun === run.id && single.dataset.status !== run.status) {
        location.reload();  // the run page: attempts and buttons change with the status
      }
      return;
    }
    if (body) {
      var template = document.createElement("template");
      template.innerHTML = run.html.trim();
      var row = template.content.firstElementChild;
      var old = body.querySelector('tr[data-run="' + run.id + '"]');
      if (old) {
        old.replaceWith(row);
      } else {
        body.insertBefore(row, body.firstElementChild);
        var empty = document.querySelector("[data-empty]");
        if (empty) { empty.remove(); }
      }
      row.classList.add("fresh");
    }
    for (var i = 0; i < lastRun.length; i++) {
      if (lastRun[i].dataset.lastRun === run.schedule_id) {
        lastRun[i].innerHTML = '<span class="badge st-' + run.status + '"></span>';
        lastRun[i].firstChild.textContent = run.words;
      }
    }
    announce("Run " + run.words);
  });
})();
