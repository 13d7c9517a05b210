/* Casebridge: live updates from the event stream, and ticking countdowns. No build step. */
(function () {
  "use strict";
  var strings = JSON.parse((document.getElementById("i18n") || {}).textContent || "{}");
  var s = function (key) { return strings[key] || key; };

  /* Deadlines within a day tick in hours, minutes and seconds; the server gives working days. */
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-tick]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.due) - now) / 1000);
      if (left <= 0) {
        el.textContent = s("cd.overdue");
        el.classList.remove("today");
        el.classList.add("overdue");
        return;
      }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), sec = left % 60;
      el.textContent = s("cd.left") + " " + (h ? h + " " + s("cd.h") + " " : "") + m + " " + s("cd.m") +
        (h ? "" : " " + sec + " " + s("cd.s"));
    });
  }
  setInterval(tick, 1000);
  tick();

  /* A page that shows a case (or an inbox) names its fragment in data-live; when the event stream
     reports a change it may show, the fragment is fetched again — unless the user is typing in it,
     then a banner offers the refresh instead of throwing their words away. */
  var live = document.querySelector("[data-live]");
  if (!live || !window.EventSource) { return; }
  var watched = live.dataset.liveCase || "*";
  var timer = null;

  function typing() {
    var fields = live.querySelectorAll("textarea, input[type=text], input[type=number]");
    for (var i = 0; i < fields.length; i++) { if (fields[i].value) { return true; } }
    var open = live.querySelector("details[open]");
    return !!open;
  }

  function refresh() {
    var region = document.querySelector("[data-live]");
    if (typing()) {
      var banner = document.getElementById("live-banner");
      if (banner) { banner.hidden = false; }
      return;
    }
    htmx.ajax("GET", region.dataset.live, { target: region, swap: "outerHTML" }).then(function () {
      live = document.querySelector("[data-live]");
      document.dispatchEvent(new CustomEvent("casebridge:refreshed"));
    });
  }

  var stream = new EventSource("/events");
  stream.addEventListener("case_event", function (message) {
    var event = JSON.parse(message.data);
    if (watched !== "*" && event.case_id !== watched) { return; }
    clearTimeout(timer);
    timer = setTimeout(refresh, 200);
  });
  window.addEventListener("beforeunload", function () { stream.close(); });
  var banner = document.getElementById("live-banner");
  if (banner) { banner.addEventListener("click", function () { location.reload(); }); }
})();
