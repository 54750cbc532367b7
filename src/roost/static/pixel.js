/*
 * Roost pixel: reports page views and conversions of a site to Roost.
 *
 * Load it with the snippet of GET /v1/pixels/code, which queues commands on `_bsq`:
 *   _bsq.push(["init", "<workspace UUID>"]);
 *   _bsq.push(["track", "PageView"]);
 *   _bsq.push(["track", "Conversion", {value: 49, currency: "EUR", event_id: "order-1042"}]);
 * Commands queued before the script arrived run when it does; later pushes run at once.
 *
 * A tracked click in mail lands with `?_bsc=<identifier>`: the script keeps it in a first-party
 * cookie (`_bsc`, 90 days, SameSite=Lax) and takes it out of the address bar, then sends it
 * with what it reports, so that conversions count for the contact who clicked.
 */
(function (window, document) {
  "use strict";

  var COLLECT_URL = "__ROOST_COLLECT_URL__"; // filled in by Roost when it serves this file
  var NAME = "_bsc"; // the landing URL's parameter and the cookie's name
  var COOKIE_MAX_AGE = 90 * 24 * 60 * 60; // seconds
  var IDENTIFIER = /^[0-9]{1,20}\.[0-9a-f]{24}$/; // what a tracked click hands on
  var MAX_URL = 2000;
  var MAX_WAITING = 50; // commands kept until `init`

  var queue = window._bsq;
  if (queue && queue.roostLoaded) {
    return; // loaded twice: the first copy already runs the queue
  }
  if (!queue || typeof queue.splice !== "function") {
    queue = window._bsq = [];
  }

  var workspace = null;
  var waiting = [];

  function storedIdentifier() {
    var pairs = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < pairs.length; i++) {
      var pair = pairs[i].replace(/^\s+/, "");
      if (pair.indexOf(NAME + "=") === 0) {
        var value = pair.substring(NAME.length + 1);
        return IDENTIFIER.test(value) ? value : null;
      }
    }
    return null;
  }

  // Keep the identifier a tracked click added to this page's URL, then take it out of the URL, so
  // that the address people copy, bookmark or share does not carry it.
  function keepIdentifier() {
    var location = window.location;
    var search = location.search || "";
    if (search.indexOf(NAME + "=") < 0) {
      return;
    }
    var kept = [];
    var found = null;
    var pairs = search.substring(1).split("&");
    for (var i = 0; i < pairs.length; i++) {
      if (pairs[i].split("=")[0] === NAME) {
        found = pairs[i].substring(NAME.length + 1);
      } else if (pairs[i]) {
        kept.push(pairs[i]);
      }
    }
    if (found === null) {
      return;
    }
    if (IDENTIFIER.test(found)) {
      document.cookie =
        NAME + "=" + found + "; Max-Age=" + COOKIE_MAX_AGE + "; Path=/; SameSite=Lax" +
        (location.protocol === "https:" ? "; Secure" : "");
    }
    var history = window.history;
    if (history && typeof history.replaceState === "function") {
      try {
        history.replaceState(history.state, "", location.pathname + (kept.length ? "?" + kept.join("&") : "") + location.hash);
      } catch (ignored) {
        // a sandboxed frame may refuse; the cookie is kept all the same
      }
    }
  }

  // A string body goes as text/plain: a simple cross-origin request, with no preflight. sendBeacon
  // outlives the page (a "buy" button that navigates away); fetch with keepalive where it is
  // missing or refuses.
  function send(payload) {
    var body = JSON.stringify(payload);
    var navigator = window.navigator;
    try {
      if (navigator && typeof navigator.sendBeacon === "function" && navigator.sendBeacon(COLLECT_URL, body)) {
        return;
      }
    } catch (ignored) {
      // fall through to fetch
    }
    try {
      if (typeof window.fetch === "function") {
        window.fetch(COLLECT_URL, {
          method: "POST",
          body: body,
          keepalive: true,
          mode: "cors",
          credentials: "omit",
          headers: {"Content-Type": "text/plain;charset=UTF-8"}
        })["catch"](function () {});
      }
    } catch (ignored) {
      // nothing more to try: a lost report never breaks the page
    }
  }

  function report(type, extra) {
    var payload = {workspace: workspace, type: type};
    var identifier = storedIdentifier();
    if (identifier) {
      payload.identifier = identifier;
    }
    for (var key in extra) {
      if (Object.prototype.hasOwnProperty.call(extra, key)) {
        payload[key] = extra[key];
      }
    }
    send(payload);
  }

  function given(value) {
    return value !== undefined && value !== null && value !== "";
  }

  function track(name, properties) {
    var props = properties && typeof properties === "object" ? properties : {};
    if (name === "PageView") {
      report("page_view", {});
    } else if (name === "Conversion") {
      // The page without its query or fragment: they may hold personal data, and Roost keeps no more.
      var location = window.location;
      var extra = {url: (location.protocol + "//" + location.host + location.pathname).substring(0, MAX_URL)};
      if (given(props.value)) {
        extra.value = props.value;
      }
      if (given(props.currency)) {
        extra.currency = String(props.currency);
      }
      var eventId = given(props.event_id) ? props.event_id : props.order_id;
      if (given(eventId)) {
        extra.event_id = String(eventId);
      }
      report("conversion", extra);
    }
  }

  function run(command) {
    if (!command || typeof command.length !== "number" || command.length < 1) {
      return;
    }
    if (command[0] === "init") {
      if (!given(command[1])) {
        return;
      }
      workspace = String(command[1]);
      var pending = waiting;
      waiting = [];
      for (var i = 0; i < pending.length; i++) {
        run(pending[i]);
      }
    } else if (command[0] === "track") {
      if (workspace === null) {
        if (waiting.length < MAX_WAITING) {
          waiting.push(command);
        }
        return;
      }
      track(String(command[1]), command[2]);
    }
  }

  keepIdentifier();
  var queued = queue.splice(0, queue.length);
  queue.push = function () {
    for (var i = 0; i < arguments.length; i++) {
      run(arguments[i]);
    }
    return queue.length;
  };
  queue.roostLoaded = true;
  for (var i = 0; i < queued.length; i++) {
    run(queued[i]);
  }
})(window, document);
