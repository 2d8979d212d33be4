// Enhancements only: every page works without this file (the forms are plain HTML forms and
// the server validates everything). Loaded with `defer`; no inline script anywhere (CSP).
(function () {
  "use strict";

  // Copy buttons: <button data-copy="element-id"> copies that input's value.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () {
        button.textContent = "Copied!";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      };
      target.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(target.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  // Classic scopes: a parent scope includes its children, so checking it checks them, and
  // unchecking a child unchecks the parent (the parent would grant it anyway).
  document.querySelectorAll("[data-scope-group]").forEach(function (group) {
    var parent = group.querySelector("[data-scope-parent]");
    var children = group.querySelectorAll("[data-scope-child]");
    if (!parent) return;
    parent.addEventListener("change", function () {
      children.forEach(function (child) { child.checked = parent.checked; });
    });
    children.forEach(function (child) {
      child.addEventListener("change", function () {
        if (!child.checked) parent.checked = false;
      });
    });
  });

  // Expiration: the date field only matters for "Custom…".
  document.querySelectorAll("[data-expiration]").forEach(function (select) {
    var custom = select.parentElement.querySelector("[data-expiration-custom]");
    var sync = function () { if (custom) custom.hidden = select.value !== "custom"; };
    select.addEventListener("change", sync);
    sync();
  });

  // Review and revoke lists: "Select all" ticks every row's box (shown only with this script).
  document.querySelectorAll("[data-check-all]").forEach(function (label) {
    var form = label.closest("form");
    var box = label.querySelector("input");
    if (!form || !box) return;
    var rows = form.querySelectorAll(".row-check");
    label.hidden = false;
    box.addEventListener("change", function () {
      rows.forEach(function (row) { row.checked = box.checked; });
    });
  });

  // Lifetime policy: typing a number of days chooses "At most … days".
  document.querySelectorAll("[data-days-for]").forEach(function (input) {
    var radio = document.getElementById(input.getAttribute("data-days-for"));
    if (!radio) return;
    input.addEventListener("input", function () { radio.checked = true; });
  });

  // Fine-grained form: what is offered follows the chosen resource owner and access mode.
  var form = document.querySelector("[data-fine-grained-form]");
  if (form) {
    var owner = form.querySelector("[data-owner-select]");
    var picker = form.querySelector("[data-repo-picker]");
    var expiration = form.querySelector("[data-expiration]");
    var justification = form.querySelector("[data-justification]");
    var policyNote = form.querySelector("[data-policy-note]");
    var selectedOwner = function () {
      if (!owner) {
        var fixed = form.querySelector("input[name=resource_owner]");
        return { login: fixed ? fixed.value : "", isOrg: null, orgOwner: false, maxDays: null, needsApproval: false };
      }
      var option = owner.options[owner.selectedIndex];
      return {
        login: option.value,
        isOrg: option.getAttribute("data-is-org") === "true",
        orgOwner: option.getAttribute("data-org-owner") === "true",
        maxDays: option.getAttribute("data-max-days") ? parseInt(option.getAttribute("data-max-days"), 10) : null,
        needsApproval: option.getAttribute("data-needs-approval") === "true"
      };
    };
    var syncOwner = function () {
      var chosen = selectedOwner();
      form.querySelectorAll("[data-repos-owner]").forEach(function (set) {
        var mine = set.getAttribute("data-repos-owner") === chosen.login;
        set.hidden = !mine;
        if (!mine) set.querySelectorAll("input").forEach(function (box) { box.checked = false; });
      });
      if (chosen.isOrg !== null) {
        form.querySelectorAll("[data-permission-group]").forEach(function (group) {
          var kind = group.getAttribute("data-permission-group");
          // Organization permissions only for an organization you own; account permissions
          // only for yourself (the services refuse anything else).
          var show = kind === "repository" || (kind === "organization" ? chosen.isOrg && chosen.orgOwner : !chosen.isOrg);
          group.hidden = !show;
          if (!show) group.querySelectorAll("select[name]").forEach(function (s) { s.value = ""; });
        });
      }
      if (expiration) {
        Array.prototype.forEach.call(expiration.options, function (option) {
          var days = option.getAttribute("data-days");
          var allowed = chosen.maxDays === null || (days !== "none" && (days === "" || parseInt(days, 10) <= chosen.maxDays));
          option.disabled = !allowed;
        });
        if (expiration.options[expiration.selectedIndex].disabled) {
          var firstAllowed = Array.prototype.find.call(expiration.options, function (o) { return !o.disabled; });
          if (firstAllowed) expiration.value = firstAllowed.value;
          expiration.dispatchEvent(new Event("change"));
        }
      }
      if (policyNote) {
        policyNote.hidden = chosen.maxDays === null;
        if (chosen.maxDays !== null) policyNote.textContent = "The resource owner requires tokens to expire within " + chosen.maxDays + " days.";
      }
      if (justification) justification.hidden = !chosen.needsApproval;
    };
    var syncMode = function () {
      var mode = form.querySelector("[data-repo-mode]:checked");
      if (picker) picker.hidden = !mode || mode.value !== "subset";
    };
    if (owner) owner.addEventListener("change", syncOwner);
    form.querySelectorAll("[data-repo-mode]").forEach(function (radio) { radio.addEventListener("change", syncMode); });
    syncOwner();
    syncMode();
  }
})();
