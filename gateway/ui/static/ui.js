/*
 * regauth web UI: dialogs, copy buttons, and the two requests whose reply holds a robot's
 * secret (create and regenerate). The secret only ever lives in the robot dialog: it is
 * inserted when the reply arrives and removed from the page when the dialog closes.
 *
 * Plain JavaScript, no dependencies; the Content-Security-Policy allows no inline script, so
 * everything is wired up here from data attributes in the pages.
 */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrfToken = csrfMeta ? csrfMeta.getAttribute("content") : "";

  var FOCUSABLE = [
    "a[href]", "button:not([disabled])", "input:not([disabled]):not([type=hidden])",
    "select:not([disabled])", "textarea:not([disabled])", "[tabindex]:not([tabindex='-1'])"
  ].join(",");

  // ---------------------------------------------------------------- small helpers

  function element(tag, attributes, text) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function setField(root, name, text) {
    root.querySelectorAll('[data-field="' + name + '"]').forEach(function (node) { node.textContent = text; });
  }

  // A shell command, each word unbreakable, so that lines wrap only between words; copying
  // the element's text gives the command back unchanged.
  function setCommand(node, text) {
    node.textContent = "";
    text.split(" ").forEach(function (word, index) {
      if (index) { node.appendChild(document.createTextNode(" ")); }
      node.appendChild(element("span", { "class": "word" }, word));
    });
  }

  function showError(node, message) {
    if (!node) { return; }
    node.textContent = message;
    node.hidden = !message;
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRF-Token": csrfToken
      },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw new Error(data.error || "The request failed (HTTP " + response.status + "). Reload the page and try again.");
        }
        return data;
      });
    }, function () {
      throw new Error("regauth could not be reached. Check the connection and try again.");
    });
  }

  // ---------------------------------------------------------------- dialogs

  function focusables(dialog) {
    return Array.prototype.filter.call(dialog.querySelectorAll(FOCUSABLE), function (node) {
      return !node.closest("[hidden]") && node.getClientRects().length > 0;
    });
  }

  function openDialog(dialog, opener) {
    dialog.returnFocusTo = opener || document.activeElement;
    if (!dialog.open) { dialog.showModal(); }
  }

  // Modal dialogs make the page behind them inert; keep Tab cycling inside the dialog too
  // instead of letting it leave for the browser's own controls.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab") { return; }
    var dialog = document.querySelector("dialog[open]");
    if (!dialog) { return; }
    var items = focusables(dialog);
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0];
    var last = items[items.length - 1];
    var inside = dialog.contains(document.activeElement);
    if (event.shiftKey && (!inside || document.activeElement === first)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (!inside || document.activeElement === last)) {
      event.preventDefault();
      first.focus();
    }
  });

  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      var target = dialog.returnFocusTo;
      dialog.returnFocusTo = null;
      if (target && document.contains(target) && typeof target.focus === "function") { target.focus(); }
    });
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) {
        // Tell the dialog's listeners first, as Escape does, so that they clean up at once.
        dialog.dispatchEvent(new Event("cancel"));
        dialog.close();
      }
      return;
    }
    var opener = event.target.closest("[data-open]");
    if (opener) {
      var target = document.getElementById(opener.getAttribute("data-open"));
      if (target) { openDialog(target, opener); }
    }
  });

  // ---------------------------------------------------------------- copy buttons

  function copyText(text, near) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Older browsers and plain-http sites other than localhost: select a scratch text area
    // (inside the open dialog: the rest of the page is inert) and copy, then remove it.
    return new Promise(function (resolve, reject) {
      var area = element("textarea", { "class": "offscreen", "readonly": "" });
      area.value = text;
      (near.closest("dialog") || document.body).appendChild(area);
      area.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (ignored) { copied = false; }
      area.remove();
      if (copied) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    copyText(source.textContent, button).then(function () {
      button.textContent = "Copied";
      button.classList.add("copied");
    }, function () {
      button.textContent = "Select and copy";
    }).then(function () {
      window.setTimeout(function () {
        button.textContent = label;
        button.classList.remove("copied");
      }, 1600);
    });
  });

  // ---------------------------------------------------------------- the robot dialog

  var robotDialog = document.getElementById("robot-dialog");
  var currentOpener = null;

  function regenerateSection() { return robotDialog.querySelector('[data-section="regenerate"]'); }

  function setStep(step) {
    var section = regenerateSection();
    if (!section) { return; }
    section.querySelectorAll("[data-step]").forEach(function (node) {
      node.hidden = node.getAttribute("data-step") !== step;
    });
  }

  function removeSecrets() {
    robotDialog.querySelectorAll("[data-secret]").forEach(function (node) { node.remove(); });
    var login = robotDialog.querySelector('[data-section="login"]');
    if (login) { login.hidden = false; }
    var section = regenerateSection();
    if (section) { section.hidden = !robotDialog.getAttribute("data-regenerate-url"); }
  }

  function fillRobot(data) {
    robotDialog.setAttribute("data-regenerate-url", data.regenerateUrl || "");
    setField(robotDialog, "username", data.username || "");
    setField(robotDialog, "description", data.description || "");
    robotDialog.querySelectorAll('[data-field="description"]').forEach(function (node) { node.hidden = !data.description; });
    setField(robotDialog, "secret-created", data.secretCreated || "");
    robotDialog.querySelectorAll('[data-field="docker"]').forEach(function (node) { setCommand(node, data.docker || ""); });
    robotDialog.querySelectorAll('[data-field="podman"]').forEach(function (node) { setCommand(node, data.podman || ""); });
    var permissions = robotDialog.querySelector('[data-field="permissions"]');
    if (permissions && data.permissionsUrl) { permissions.setAttribute("href", data.permissionsUrl); }
    var section = regenerateSection();
    if (section) { section.hidden = !data.regenerateUrl; }
    showError(robotDialog.querySelector('[data-section="regenerate"] [data-field="error"]'), "");
    setStep("ask");
  }

  function commandRow(id, text, label, plain) {
    var row = element("div", { "class": "command" });
    var code = element("code", { "id": id });
    if (plain) { code.textContent = text; } else { setCommand(code, text); }
    row.appendChild(code);
    row.appendChild(element("button", { "type": "button", "class": "button small", "data-copy": id }, label || "Copy"));
    return row;
  }

  // Show a secret just received: the only place it is ever put on the page.
  function showSecret(data, heading) {
    removeSecrets();
    var section = element("section", { "class": "secret", "data-secret": "" });
    section.appendChild(element("h3", {}, heading));
    section.appendChild(element("p", { "class": "secret-warning" },
      "Copy the token now: it is shown only this once, and closing this dialog removes it from the page."));
    var tokenRow = commandRow("robot-dialog-token", data.token, "Copy token", true);
    tokenRow.classList.add("token");
    section.appendChild(tokenRow);
    section.appendChild(element("h4", {}, "Log in with it"));
    var commands = data.login_commands_with_token || {};
    section.appendChild(commandRow("robot-dialog-docker-token", commands.docker || ""));
    section.appendChild(commandRow("robot-dialog-podman-token", commands.podman || ""));
    robotDialog.querySelector('[data-slot="secret"]').appendChild(section);
    // While a secret is shown, it replaces the login help and the regenerate button (one
    // token at a time: reopen the dialog to regenerate again).
    var login = robotDialog.querySelector('[data-section="login"]');
    if (login) { login.hidden = true; }
    var regenerate = regenerateSection();
    if (regenerate) { regenerate.hidden = true; }
    setField(robotDialog, "secret-created", data.secret_created || "");
    tokenRow.querySelector("button").focus();
  }

  if (robotDialog) {
    document.addEventListener("click", function (event) {
      var opener = event.target.closest("[data-robot-open]");
      if (!opener) { return; }
      currentOpener = opener;
      removeSecrets();
      fillRobot(opener.dataset);
      openDialog(robotDialog, opener);
    });

    robotDialog.addEventListener("click", function (event) {
      var button = event.target.closest("[data-action]");
      if (!button) { return; }
      var action = button.getAttribute("data-action");
      var section = regenerateSection();
      if (action === "regenerate") {
        setStep("confirm");
        section.querySelector('[data-action="cancel-regenerate"]').focus();
      } else if (action === "cancel-regenerate") {
        setStep("ask");
        section.querySelector('[data-action="regenerate"]').focus();
      } else if (action === "confirm-regenerate") {
        button.disabled = true;
        showError(section.querySelector('[data-field="error"]'), "");
        postJSON(robotDialog.getAttribute("data-regenerate-url")).then(function (data) {
          setStep("ask");
          showSecret(data, "New token");
          if (currentOpener) { currentOpener.setAttribute("data-secret-created", data.secret_created || ""); }
        }, function (error) {
          setStep("ask");
          showError(section.querySelector('[data-field="error"]'), error.message);
        }).then(function () { button.disabled = false; });
      }
    });

    // Escape fires "cancel" at once and "close" a moment later: take the secret off the
    // page at the first of them.
    robotDialog.addEventListener("cancel", removeSecrets);
    robotDialog.addEventListener("close", function () {
      removeSecrets();
      setStep("ask");
      if (robotDialog.hasAttribute("data-reload-on-close")) {
        window.location.reload();
      }
    });
  }

  // ---------------------------------------------------------------- create a robot

  var createForm = document.querySelector("form[data-create-robot]");
  if (createForm && robotDialog) {
    createForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var submit = createForm.querySelector('button[type="submit"]');
      var error = createForm.querySelector('[data-field="error"]');
      showError(error, "");
      submit.disabled = true;
      postJSON(createForm.getAttribute("action"), {
        shortname: createForm.elements.shortname.value.trim(),
        description: createForm.elements.description.value.trim()
      }).then(function (data) {
        createForm.closest("dialog").close();
        createForm.reset();
        var prompt = data.login_commands || {};
        currentOpener = null;
        fillRobot({
          username: data.name,
          description: data.description,
          secretCreated: data.secret_created,
          docker: prompt.docker,
          podman: prompt.podman,
          regenerateUrl: data.regenerate_url,
          permissionsUrl: data.permissions_url
        });
        // The list behind the dialog does not show the new robot yet: reload once it closes.
        robotDialog.setAttribute("data-reload-on-close", "");
        openDialog(robotDialog, document.querySelector('[data-open="create-robot-dialog"]'));
        showSecret(data, "Robot account created");
      }, function (failure) {
        showError(error, failure.message);
      }).then(function () { submit.disabled = false; });
    });
  }

  // ---------------------------------------------------------------- delete a robot

  var deleteDialog = document.getElementById("delete-robot-dialog");
  var pendingDelete = null;
  if (deleteDialog) {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest("form[data-confirm-delete]");
      if (!form) { return; }
      event.preventDefault();
      pendingDelete = form;
      setField(deleteDialog, "username", form.getAttribute("data-confirm-delete"));
      openDialog(deleteDialog, event.submitter || form.querySelector("button"));
    });
    deleteDialog.querySelector('[data-action="confirm-delete"]').addEventListener("click", function () {
      if (!pendingDelete) { return; }
      pendingDelete.elements.confirmed.value = "yes";
      pendingDelete.submit();
    });
    deleteDialog.addEventListener("close", function () {
      pendingDelete = null;
    });
  }
}());
