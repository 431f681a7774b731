/* Kefu chat widget loader: the one script a site embeds.
 *   <script src="https://kefu.example.com/static/chat/loader.js" data-widget="KEY" async></script>
 * It draws a chat button and opens the chat in an iframe served by Kefu itself, so the site's
 * page and the chat share no scripts, styles or cookies. Optional: data-lang="en|zh-CN",
 * data-color="#1677ff", data-label="…". No inline styles or scripts (works under a strict CSP
 * that allows this script and frames from Kefu's origin). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll("script[data-widget]");
    script = all[all.length - 1];
  }
  if (!script || window.__kefuChat) return;
  window.__kefuChat = true;
  var key = script.getAttribute("data-widget") || "";
  var origin = new URL(script.src, location.href).origin;
  var lang = script.getAttribute("data-lang") || navigator.language || "zh-CN";
  var english = lang.toLowerCase().indexOf("en") === 0;
  var color = script.getAttribute("data-color") || "#1677ff";
  var label = script.getAttribute("data-label") || (english ? "Chat with us" : "在线客服");
  var open = false;

  var button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", label);
  button.setAttribute("data-kefu-chat", "button");
  var s = button.style;
  s.position = "fixed"; s.right = "20px"; s.bottom = "20px"; s.zIndex = "2147483000";
  s.border = "0"; s.borderRadius = "28px"; s.padding = "14px 20px"; s.cursor = "pointer";
  s.background = color; s.color = "#fff"; s.font = "600 15px/1 system-ui, sans-serif";
  s.boxShadow = "0 4px 16px rgba(0,0,0,.2)";
  button.textContent = "💬 " + label;
  var badge = document.createElement("span");
  var b = badge.style;
  b.display = "none"; b.marginLeft = "8px"; b.background = "#d32f2f"; b.borderRadius = "10px";
  b.padding = "2px 7px"; b.fontSize = "12px";
  badge.setAttribute("data-kefu-chat", "badge");
  button.appendChild(badge);

  var frame = document.createElement("iframe");
  frame.src = origin + "/chat/w/" + encodeURIComponent(key) + "?lang=" + encodeURIComponent(lang);
  // A signed-in customer, vouched for by the site: data-user-email (or data-user-phone),
  // data-user-name and data-user-hash = HMAC-SHA256(widget identity secret, that email or
  // phone), computed on the site's server. Passed in the fragment: it never reaches a log.
  var userHash = script.getAttribute("data-user-hash");
  if (userHash) {
    var who = { hash: userHash };
    ["email", "phone", "name"].forEach(function (k) {
      var v = script.getAttribute("data-user-" + k);
      if (v) who[k] = v;
    });
    var bin = "";
    new TextEncoder().encode(JSON.stringify(who)).forEach(function (b) { bin += String.fromCharCode(b); });
    var packed = btoa(bin);
    frame.src += "#identity=" + packed.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  frame.title = label;
  frame.setAttribute("data-kefu-chat", "frame");
  frame.setAttribute("allow", "clipboard-write");
  var f = frame.style;
  f.position = "fixed"; f.zIndex = "2147483001"; f.border = "0"; f.background = "#fff";
  f.boxShadow = "0 8px 32px rgba(0,0,0,.25)"; f.display = "none";

  function place() {
    if (window.innerWidth <= 480) {
      f.left = "0"; f.top = "0"; f.right = "0"; f.bottom = "0";
      f.width = "100%"; f.height = "100%"; f.borderRadius = "0";
    } else {
      f.left = "auto"; f.top = "auto"; f.right = "20px"; f.bottom = "20px";
      f.width = "370px"; f.height = "min(600px, calc(100vh - 40px))"; f.borderRadius = "12px";
    }
  }
  function toggle(show) {
    open = show;
    f.display = show ? "block" : "none";
    s.display = show ? "none" : "block";
    if (show) { badge.style.display = "none"; }
    if (frame.contentWindow) frame.contentWindow.postMessage({ kefu: show ? "open" : "closed" }, origin);
  }
  button.addEventListener("click", function () { toggle(true); });
  window.addEventListener("resize", place);
  window.addEventListener("message", function (evt) {
    if (evt.origin !== origin || !evt.data || typeof evt.data !== "object") return;
    if (evt.data.kefu === "close") toggle(false);
    if (evt.data.kefu === "unread" && !open) {
      var n = parseInt(evt.data.count, 10) || 0;
      badge.textContent = String(n);
      badge.style.display = n > 0 ? "inline-block" : "none";
    }
    if (evt.data.kefu === "color" && /^#[0-9a-fA-F]{6}$/.test(evt.data.value || "")) {
      s.background = evt.data.value;
    }
  });
  place();
  function mount() {
    document.body.appendChild(button);
    document.body.appendChild(frame);
  }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
