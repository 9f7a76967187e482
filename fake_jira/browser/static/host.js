/* The host page's side of the bridge: the modules Jira defines itself, then the app's iframe, created with
   connect-host.js as Jira creates it. Tokens come from fake_jira's server; no secret is ever in this page. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("host-config").textContent);
  var host = window.connectHost;
  var $ = window.AJS.$;
  var notice = document.getElementById("host-notice");
  var navigatorLog = document.getElementById("navigator-log");
  var caller = { app: config.app.key, user: config.user.accountId };

  function show(element, text) {
    element.textContent = text;
    element.hidden = false;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({}, caller, body)),
      cache: "no-store"
    });
  }

  function postJson(url, body) {
    return post(url, body).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error((data.errorMessages || []).join(" ") || "HTTP " + response.status); }
        return data;
      });
    });
  }

  // What connect-host's internal returnsPromise() marks: the iframe gets a Promise, or a callback with the
  // result, and the host method answers by returning a Promise.
  function promised(method) {
    method.returnsPromise = true;
    return method;
  }

  host.defineModule("context", {
    getToken: promised(function (callback) {
      return postJson(config.endpoints["context-token"], {}).then(function (data) { return data.token; });
    }),
    getContext: promised(function (callback) {
      return Promise.resolve({ jira: {} });
    })
  });

  // AP.request is a global of the bridge, not a module.
  host.defineModule({
    request: promised(function (options, callback) {
      var settings = typeof options === "string" ? { url: options } : options || {};
      return post(config.endpoints.request, { url: settings.url, type: settings.type || "GET" }).then(function (response) {
        return response.text().then(function (text) {
          var xhr = {
            status: response.status,
            statusText: response.statusText,
            responseText: text,
            contentType: response.headers.get("Content-Type")
          };
          if (!response.ok) { return Promise.reject({ err: response.statusText || "HTTP " + response.status, xhr: xhr }); }
          return { body: text, xhr: xhr };
        });
      });
    })
  });

  host.defineModule("navigator", {
    go: function (target, context, callback) {
      show(navigatorLog, "The app asked Jira to go to " + target + " " + JSON.stringify(context || {}));
    },
    reload: function (callback) {
      window.location.reload();
    },
    getLocation: promised(function (callback) {
      return Promise.resolve(window.location.href);
    })
  });

  host.defineModule("user", {
    getCurrentUser: promised(function (callback) {
      return Promise.resolve({ atlassianAccountId: config.user.accountId });
    }),
    getTimeZone: promised(function (callback) {
      return Promise.resolve("Etc/UTC");
    }),
    getLocale: promised(function (callback) {
      return Promise.resolve("en-US");
    })
  });

  document.getElementById("site-switcher").addEventListener("change", function (event) {
    window.location.assign(event.target.value);
  });
  document.getElementById("user-switcher").addEventListener("change", function (event) {
    window.location.assign(event.target.value);
  });
  document.getElementById("rotate-secret").addEventListener("click", function (event) {
    event.target.disabled = true;
    postJson(config.endpoints.rotate, {}).then(function () {
      window.location.reload();
    }, function (error) {
      event.target.disabled = false;
      show(notice, "The rotation failed: " + error.message);
    });
  });

  // The iframe answers connect-js's handshake once its all.js runs; a framing refusal never does.
  var established = false;
  host.onIframeEstablished(function () {
    established = true;
    document.body.setAttribute("data-bridge", "established");
  });
  setTimeout(function () {
    if (established) { return; }
    document.body.setAttribute("data-bridge", "timeout");
    var siteOrigin = new URL(config.site.baseUrl).origin;
    if (window.location.origin !== siteOrigin) {
      show(notice, "The app refused to be framed here. This page's origin is " + window.location.origin +
        ", not the Jira site's (" + siteOrigin + "), and the app lets only its tenant's Jira frame its pages " +
        "(Content-Security-Policy frame-ancestors). The browser console shows the refusal.");
    } else {
      show(notice, "The app did not answer connect-js within " + config.handshakeSeconds + " s: it may be down, " +
        "have refused to be framed, or have failed to load all.js. The browser console says which.");
    }
  }, config.handshakeSeconds * 1000);

  var container = host.create({
    addon_key: config.app.key,
    key: config.app.module,
    url: config.iframeUrl,
    options: { autoresize: true, width: "100%", height: "600px", isFullPage: true, moduleType: "generalPages" }
  });
  $("#app-frame").append(container);
}());
