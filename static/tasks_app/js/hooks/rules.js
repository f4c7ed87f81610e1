/*
 * Notification rules of a tree or a schedule: a webhook (or e-mail, when the server's mail is
 * configured) on completed / failed / cancelled runs, and each rule's recent deliveries.
 * The API validates (services/notifications.clean_rule): its 4xx message is shown under the field
 * it names, e.g. a private webhook address refused by the outbound-URL rules.
 */
import { api, config } from "../api.js";
import { h, clear, toast, errorMessage, confirmDialog, timeEl } from "../ui.js";
import { copyButton, fieldError, showFieldError } from "./fields.js";

const EVENTS = ["completed", "failed", "cancelled"];
const DELIVERY_STATE = {
  delivered: "completed",
  failed: "failed",
  pending: "pending",
  sending: "in_progress",
};
let seq = 0;

/** Redeliver button of a delivered or failed delivery; `after` reloads the table. */
function redeliverButton(ruleId, d, after) {
  if (d.status === "pending") return h("span.muted.small", "queued");
  return h(
    "button.btn.small",
    {
      type: "button",
      dataset: { testid: "redeliver" },
      "aria-label": `Redeliver the ${d.event} notification`,
      on: {
        click: async () => {
          try {
            await api.redeliver(ruleId, d.id);
            toast("Queued for redelivery");
          } catch (err) {
            toast(errorMessage(err), "error");
          }
          after();
        },
      },
    },
    "Redeliver",
  );
}

function deliveriesTable(rows, ruleId, after) {
  if (!rows.length) return h("p.small.muted", "No delivery yet: one is made when a run ends.");
  return h(
    "div.table-wrap",
    h(
      "table.data.small",
      h(
        "thead",
        h(
          "tr",
          ["When", "Event", "Status", "Attempts", "Response", "Error", ""].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h(
        "tbody",
        rows.map((d) =>
          h(
            "tr",
            { dataset: { testid: "delivery", status: d.status } },
            h("td", timeEl(d.created_at)),
            h("td", d.event),
            h("td", h("span.badge", { dataset: { state: DELIVERY_STATE[d.status] || "pending" } }, d.status)),
            h("td", String(d.attempts)),
            h("td", d.last_status_code == null ? "—" : String(d.last_status_code)),
            h("td.small.muted.hooks-wrap", d.last_error || ""),
            h("td", redeliverButton(ruleId, d, after)),
          ),
        ),
      ),
    ),
  );
}

function ruleRow(rule, ctx) {
  const box = h("div.hooks-deliveries", { hidden: true, dataset: { testid: "deliveries" } });
  const toggle = h(
    "button.btn.small",
    { type: "button", "aria-expanded": "false", dataset: { testid: "rule-deliveries" } },
    "Deliveries",
  );
  async function showDeliveries() {
    try {
      const rows = api.results(await api.ruleDeliveries(rule.id, { limit: 10 }));
      clear(box).appendChild(deliveriesTable(rows, rule.id, showDeliveries));
    } catch (err) {
      clear(box).appendChild(h("p.form-error", errorMessage(err)));
    }
  }
  toggle.addEventListener("click", async () => {
    const open = box.hidden;
    box.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) await showDeliveries();
  });
  const refresh = h(
    "button.btn.small",
    { type: "button", on: { click: () => showDeliveries() }, "aria-label": "Refresh the deliveries" },
    "↻",
  );
  const target = rule.kind === "email" ? rule.emails.join(", ") : rule.url;
  return h(
    "li.hooks-item",
    { dataset: { testid: "rule", id: rule.id } },
    h(
      "div.hooks-line",
      h("span.badge", rule.kind),
      h("code.hooks-wrap", target),
      h("span.muted.small", `on ${rule.events.join(", ")}`),
      rule.enabled ? null : h("span.muted.small", "disabled"),
    ),
    ctx.shown && ctx.shown.id === rule.id ? secretBox(ctx.shown.secret) : null,
    h(
      "div.hooks-actions",
      toggle,
      refresh,
      h(
        "button.btn.small.danger",
        { type: "button", on: { click: () => ctx.remove(rule) }, dataset: { testid: "rule-delete" } },
        "Remove",
      ),
    ),
    box,
  );
}

function secretBox(secret) {
  const input = h("input.hooks-secret", {
    type: "text",
    readonly: true,
    value: secret,
    "aria-label": "Webhook signing secret (shown once)",
    dataset: { testid: "rule-secret" },
  });
  return h(
    "div.hooks-once",
    { role: "status" },
    h(
      "p.small",
      h("strong", "Signing secret, shown once: "),
      "each webhook carries X-Arbor-Timestamp and X-Arbor-Signature: sha256=<hex HMAC-SHA256 of timestamp.body> made with it.",
    ),
    h(
      "div.hooks-inline",
      input,
      copyButton(() => secret, "signing secret"),
    ),
  );
}

function ruleForm(owner, id, ctx) {
  const n = ++seq;
  const mail = Boolean(config.mail);
  const ids = { kind: `rule-kind-${n}`, url: `rule-url-${n}`, emails: `rule-emails-${n}` };
  const kind = h(
    "select",
    { id: ids.kind },
    h("option", { value: "webhook" }, "Webhook"),
    h(
      "option",
      { value: "email", disabled: !mail },
      mail ? "E-mail" : "E-mail (not configured on this server)",
    ),
  );
  const url = h("input", {
    id: ids.url,
    type: "text",
    inputmode: "url",
    spellcheck: "false",
    placeholder: "https://example.com/arbor-hook",
    autocomplete: "off",
  });
  const emails = h("input", { id: ids.emails, type: "text", placeholder: "ops@example.com, me@example.com" });
  const errors = {
    url: fieldError(`rule-url-error-${n}`),
    emails: fieldError(`rule-emails-error-${n}`),
    events: fieldError(`rule-events-error-${n}`),
    form: fieldError(`rule-form-error-${n}`),
  };
  const boxes = EVENTS.map((ev) =>
    h("input", { type: "checkbox", value: ev, id: `rule-ev-${ev}-${n}`, checked: ev !== "cancelled" }),
  );
  const urlField = h(
    "div.field",
    h("label", { for: ids.url }, "Webhook URL"),
    url,
    h("div.hint", "Arbor POSTs a JSON summary of the run, signed with the rule's secret."),
    errors.url,
  );
  const emailField = h(
    "div.field",
    { hidden: true },
    h("label", { for: ids.emails }, "E-mail addresses"),
    emails,
    h("div.hint", "Comma-separated, up to 20."),
    errors.emails,
  );
  kind.addEventListener("change", () => {
    urlField.hidden = kind.value !== "webhook";
    emailField.hidden = kind.value !== "email";
  });
  const events = h(
    "fieldset.field.hooks-events",
    h("legend", "When a run"),
    EVENTS.map((ev, i) => h("label.check", { for: boxes[i].id }, boxes[i], ` ${ev}`)),
    errors.events,
  );
  const form = h(
    "form.hooks-form",
    { "aria-label": "New notification rule", novalidate: true },
    h("div.field", h("label", { for: ids.kind }, "Notify by"), kind),
    urlField,
    emailField,
    events,
    errors.form,
    h("button.btn.primary", { type: "submit", dataset: { testid: "rule-create" } }, "Add notification"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    for (const el of Object.values(errors)) showFieldError(el, null);
    const body = { kind: kind.value, events: boxes.filter((b) => b.checked).map((b) => b.value) };
    if (body.kind === "webhook") body.url = url.value.trim();
    else
      body.emails = emails.value
        .split(/[,\s]+/)
        .map((s) => s.trim())
        .filter(Boolean);
    try {
      const out = await api.ruleCreate(owner, id, body);
      ctx.shown = out.secret ? { id: out.id, secret: out.secret } : null;
      url.value = "";
      emails.value = "";
      toast("Notification added");
      await ctx.load();
    } catch (err) {
      const field = err.details && err.details.field;
      const inputs = { url: [url], emails: [emails], events: boxes, kind: [kind] }[field];
      showFieldError(errors[field] || errors.form, err, inputs || []);
    }
  });
  return form;
}

/** The "Notifications" section for owner "trees" or "schedules" and its id. */
function rulesSection(owner, id) {
  const list = h("ul.hooks-list", { "aria-live": "polite", dataset: { testid: "rules" } });
  const ctx = { shown: null };
  ctx.load = async () => {
    try {
      const rows = api.results(await api.rules(owner, id));
      clear(list);
      if (!rows.length) list.appendChild(h("li.muted.small", "No notification yet."));
      for (const r of rows) list.appendChild(ruleRow(r, ctx));
    } catch (err) {
      clear(list).appendChild(h("li.form-error", errorMessage(err)));
    }
  };
  ctx.remove = async (rule) => {
    const ok = await confirmDialog({
      title: "Remove this notification?",
      body: "Its delivery log goes too.",
      confirm: "Remove",
      danger: true,
    });
    if (!ok) return;
    try {
      await api.ruleDelete(rule.id);
      toast("Notification removed");
    } catch (err) {
      toast(errorMessage(err), "error");
    }
    ctx.load();
  };
  ctx.load();
  const what = owner === "schedules" ? "a run this schedule started" : "a run of this tree";
  return h(
    "section.hooks-section",
    { "aria-labelledby": `hooks-rules-title-${owner}` },
    h(`h3#hooks-rules-title-${owner}`, "Notifications"),
    h("p.small.muted", `Tell a webhook or people when ${what} completes, fails or is cancelled.`),
    list,
    ruleForm(owner, id, ctx),
  );
}

export { rulesSection };
