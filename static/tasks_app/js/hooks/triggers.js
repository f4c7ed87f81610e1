/*
 * The run view's inbound triggers: create, list, enable/disable, rotate and delete a tree's trigger
 * URLs. The secret is in the answer to create and rotate only (Arbor keeps no readable copy of a
 * bearer secret), so it is shown once here, with curl examples that use it.
 * Header names and the signature format are services/triggers.py's (docs/notifications.md).
 */
import { api } from "../api.js";
import { h, clear, toast, errorMessage, confirmDialog, timeEl } from "../ui.js";
import { copyButton, fieldError, showFieldError } from "./fields.js";

const SECRET_VAR = "TRIGGER_SECRET";

/** A shell-quoted string ('…' with embedded quotes escaped). */
function shq(s) {
  return `'${String(s).replace(/'/g, "'\\''")}'`;
}

/** curl for one trigger; `secret` null → the secret comes from $TRIGGER_SECRET. */
function curlExample(trigger, secret) {
  const key = secret ? shq(secret) : `"$${SECRET_VAR}"`;
  const body = `'{"example": "input"}'`;
  if (trigger.mode === "bearer") {
    return [
      `curl -X POST ${shq(trigger.url)} \\`,
      `  -H "Authorization: Bearer ${secret ? secret : "$" + SECRET_VAR}" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  --data ${body}`,
    ].join("\n");
  }
  return [
    `SECRET=${key}`,
    `BODY=${body}`,
    `TS=$(date +%s)`,
    `SIG=$(printf '%s.%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //')`,
    `curl -X POST ${shq(trigger.url)} \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -H "X-Arbor-Timestamp: $TS" \\`,
    `  -H "X-Arbor-Signature: sha256=$SIG" \\`,
    `  --data "$BODY"`,
  ].join("\n");
}

function codeBlock(text, label) {
  const pre = h("pre.hooks-code", { tabindex: "0", "aria-label": label }, text);
  return h(
    "div.hooks-codebox",
    pre,
    copyButton(() => text, label),
  );
}

function modeHelp(mode) {
  return mode === "bearer"
    ? "Bearer: send the secret as “Authorization: Bearer <secret>”."
    : "HMAC: send “X-Arbor-Timestamp: <unix seconds>” and “X-Arbor-Signature: sha256=<hex HMAC-SHA256 of timestamp.body>”; the secret never travels.";
}

/** The once-only box after create/rotate: the secret and a curl example using it. */
function secretBox(trigger, secret) {
  const input = h("input.hooks-secret", {
    type: "text",
    readonly: true,
    value: secret,
    id: `secret-${trigger.id}`,
    "aria-label": "Trigger secret (shown once)",
    dataset: { testid: "trigger-secret" },
  });
  return h(
    "div.hooks-once",
    { role: "status" },
    h(
      "p.small",
      h("strong", "Copy the secret now: "),
      "Arbor will not show it again (rotate for a new one).",
    ),
    h(
      "div.hooks-inline",
      input,
      copyButton(() => secret, "secret"),
    ),
    h("p.small.muted", modeHelp(trigger.mode)),
    codeBlock(curlExample(trigger, secret), `curl example (${trigger.mode})`),
  );
}

function triggerRow(trigger, ctx) {
  const state = trigger.enabled ? "enabled" : "disabled";
  const url = h("input.hooks-url", {
    type: "text",
    readonly: true,
    value: trigger.url,
    "aria-label": `Trigger URL of ${trigger.name || trigger.mode}`,
  });
  const actions = h(
    "div.hooks-actions",
    h(
      "button.btn.small",
      { type: "button", on: { click: () => ctx.toggle(trigger) }, dataset: { testid: "trigger-toggle" } },
      trigger.enabled ? "Disable" : "Enable",
    ),
    h(
      "button.btn.small",
      { type: "button", on: { click: () => ctx.rotate(trigger) }, dataset: { testid: "trigger-rotate" } },
      "Rotate secret",
    ),
    h(
      "button.btn.small.danger",
      { type: "button", on: { click: () => ctx.remove(trigger) }, dataset: { testid: "trigger-delete" } },
      "Delete",
    ),
  );
  const details = h(
    "details.hooks-curl",
    h("summary.small", "curl example"),
    codeBlock(curlExample(trigger, null), `curl example (${trigger.mode})`),
    h("p.small.muted", `Set ${SECRET_VAR} to the secret you copied when it was shown.`),
  );
  return h(
    "li.hooks-item",
    { dataset: { testid: "trigger", id: trigger.id } },
    h(
      "div.hooks-line",
      h("strong", trigger.name || "Trigger"),
      h("span.badge", { dataset: { state: trigger.enabled ? "completed" : "pending" } }, trigger.mode),
      h("span.muted.small", state),
      h(
        "span.muted.small",
        { dataset: { testid: "trigger-fires" } },
        `${trigger.fire_count} fire${trigger.fire_count === 1 ? "" : "s"}`,
        trigger.last_fired_at ? [" · last ", timeEl(trigger.last_fired_at)] : "",
      ),
    ),
    h(
      "div.hooks-inline",
      url,
      copyButton(() => trigger.url, "URL"),
    ),
    ctx.shown && ctx.shown.id === trigger.id ? secretBox(trigger, ctx.shown.secret) : null,
    actions,
    details,
  );
}

/** The "Trigger URLs" section of the dialog for tree `treeId`. */
function triggersSection(treeId) {
  const list = h("ul.hooks-list", { "aria-live": "polite", dataset: { testid: "triggers" } });
  const ctx = { shown: null };

  async function load() {
    try {
      const rows = api.results(await api.triggers(treeId));
      clear(list);
      if (!rows.length) list.appendChild(h("li.muted.small", "No trigger URL yet."));
      for (const t of rows) list.appendChild(triggerRow(t, ctx));
    } catch (err) {
      clear(list).appendChild(h("li.form-error", errorMessage(err)));
    }
  }
  ctx.load = load;
  ctx.toggle = async (t) => {
    try {
      await api.triggerUpdate(t.id, { enabled: !t.enabled });
      toast(t.enabled ? "Trigger disabled" : "Trigger enabled");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
    load();
  };
  ctx.rotate = async (t) => {
    const ok = await confirmDialog({
      title: "Rotate this trigger's secret?",
      body: "The old secret stops working at once; callers need the new one.",
      confirm: "Rotate",
    });
    if (!ok) return;
    try {
      const out = await api.triggerRotate(t.id);
      ctx.shown = { id: out.id, secret: out.secret };
      toast("New secret: copy it now");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
    load();
  };
  ctx.remove = async (t) => {
    const ok = await confirmDialog({
      title: "Delete this trigger URL?",
      body: "Requests to it will get 404; runs it started stay.",
      confirm: "Delete",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.triggerDelete(t.id);
      if (ctx.shown && ctx.shown.id === t.id) ctx.shown = null;
      toast("Trigger deleted");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
    load();
  };

  const nameId = "trigger-name";
  const modeId = "trigger-mode";
  const name = h("input", { id: nameId, type: "text", maxlength: "200", placeholder: "e.g. GitHub push" });
  const mode = h(
    "select",
    { id: modeId },
    h("option", { value: "hmac" }, "HMAC signature (recommended)"),
    h("option", { value: "bearer" }, "Bearer secret"),
  );
  const error = fieldError("trigger-error");
  const form = h(
    "form.hooks-form",
    { "aria-label": "New trigger URL", novalidate: true },
    h(
      "div.field-row",
      h("div.field", h("label", { for: nameId }, "Name (optional)"), name),
      h("div.field", h("label", { for: modeId }, "Authentication"), mode),
    ),
    error,
    h("button.btn.primary", { type: "submit", dataset: { testid: "trigger-create" } }, "Create trigger URL"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showFieldError(error, null, [name, mode]);
    try {
      const out = await api.triggerCreate(treeId, { name: name.value.trim(), mode: mode.value });
      ctx.shown = { id: out.id, secret: out.secret };
      name.value = "";
      toast("Trigger created: copy its secret now");
      await load();
    } catch (err) {
      const field = err.details && err.details.field;
      showFieldError(error, err, field === "mode" ? [mode] : field === "name" ? [name] : []);
    }
  });

  load();
  return h(
    "section.hooks-section",
    { "aria-labelledby": "hooks-triggers-title" },
    h("h3#hooks-triggers-title", "Trigger URLs"),
    h(
      "p.small.muted",
      "A POST to a trigger URL starts a run with the JSON body as the root task's inputs. Anyone with the secret can run this tree.",
    ),
    list,
    form,
  );
}

export { triggersSection, curlExample };
