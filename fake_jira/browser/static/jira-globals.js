/* What Jira's page defines before connect-host.js loads, and connect-host.js reads: AJS (jQuery as AJS.$,
   HTML escaping, AUI's flag as a plain element with close()) and the product's feature-gate client, with
   every gate off. Loaded after jquery.js. */
(function () {
  "use strict";
  var $ = window.jQuery.noConflict(true);
  var container = function () { return document.getElementById("flags"); };

  function escapeHtml(text) {
    return $("<div>").text(text == null ? "" : String(text)).html();
  }

  // AJS.flag({type, title, body, close}): body arrives as HTML that connect-host already escaped.
  function flag(options) {
    var element = document.createElement("div");
    element.className = "flag " + (options.type || "info");
    element.setAttribute("role", "alert");
    var close = document.createElement("button");
    close.className = "flag-close";
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.textContent = "\u00d7";
    var title = document.createElement("h2");
    title.textContent = options.title || "";
    var body = document.createElement("div");
    body.className = "flag-body";
    body.innerHTML = options.body || "";
    element.append(close, title, body);
    element.close = function () {
      if (!element.parentNode) { return; }
      element.parentNode.removeChild(element);
      element.dispatchEvent(new CustomEvent("aui-flag-close", { bubbles: true }));
    };
    close.addEventListener("click", function () { element.close(); });
    // connect-host sets the id after this returns, and listens for aui-flag-close on document.
    container().appendChild(element);
    if (options.close === "auto") { setTimeout(element.close, 8000); }
    return element;
  }

  window.AJS = { $: $, escapeHtml: escapeHtml, flag: flag };

  // Jira initialises its Statsig client before connect-host.js binds to it; without one, every flag read
  // logs an error. The version is the client atlassian-connect-js bundles (package-lock.json), so it binds
  // without a version warning.
  window.__FEATUREGATES_JS__ = {
    initializeCompleted: function () { return true; },
    checkGate: function () { return false; },
    getPackageVersion: function () { return "4.23.4"; }
  };
}());
