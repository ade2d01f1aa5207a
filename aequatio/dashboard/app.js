// The family dashboard: one group and one month, read through the public GraphQL API and kept
// current by its subscriptions. Every value from the server is written with textContent.

import { Api, GraphQLError, LiveConnection } from "./graphql.js";
import { formatMinor, toBasisPoints, toMinor } from "./money.js";

const $ = (selector, root = document) => root.querySelector(selector);
const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

const STORAGE = { token: "aequatio.token", name: "aequatio.name", group: "aequatio.group", month: "aequatio.month" };
const PAGE_SIZE = 10;

const state = {
  token: localStorage.getItem(STORAGE.token),
  name: localStorage.getItem(STORAGE.name),
  devSignIn: false,
  me: null,
  group: null,
  month: localStorage.getItem(STORAGE.month) || new Date().toISOString().slice(0, 7),
  expensesCursor: null,
  live: null,
  unsubscribe: [],
};

const api = new Api("/graphql", () => state.token);

// --- queries ---------------------------------------------------------------------------------

const ME = `query($seen: [ID!]) { me(consistentWith: $seen) { id name } }`;
const GROUPS = `query($seen: [ID!]) { groups(consistentWith: $seen) { id name currency } }`;
const GROUP = `query($g: ID!, $seen: [ID!]) { group(id: $g, consistentWith: $seen) {
  id name currency myRole
  members { role weight joinedOn active user { id name } } } }`;
const EXPENSES = `query($g: ID!, $p: PeriodInput, $after: String, $seen: [ID!]) {
  expenses(groupId: $g, period: $p, first: ${PAGE_SIZE}, after: $after, consistentWith: $seen) {
    edges { node { id description category amountCents currency incurredOn isAdjustment
      payers { amountCents user { name } } shares { amountCents user { name } } split { mode } } }
    pageInfo { hasNextPage endCursor } } }`;
const BALANCES = `query($g: ID!, $p: PeriodInput!, $seen: [ID!]) {
  balances(groupId: $g, period: $p, consistentWith: $seen) {
    currency paidCents owedCents netCents user { name } } }`;
const SPLITS = `query($g: ID!, $p: PeriodInput, $seen: [ID!]) {
  splits(groupId: $g, period: $p, consistentWith: $seen) {
    id status failureCode failureReason completedAt
    transfers { currency amountCents from { name } to { name } } } }`;
const INVOICES = `query($g: ID!, $seen: [ID!]) { invoices(groupId: $g, consistentWith: $seen) {
  id status period { start end } total { currency amountCents } issuedAt } }`;
const ACTIVITY = `query($g: ID!, $seen: [ID!]) { activity(groupId: $g, first: 20, consistentWith: $seen) {
  edges { node { id occurredAt eventType summary actor { name } } } } }`;

const SPLIT_COMPLETED = `subscription($g: ID!) { splitCompleted(groupId: $g) { id period { start } status } }`;
const INVOICE_CREATED = `subscription($g: ID!) { invoiceCreated(groupId: $g) { id period { start } } }`;
const GROUP_ACTIVITY = `subscription($g: ID!) { groupActivity(groupId: $g) {
  id occurredAt eventType summary actor { name } } }`;

// --- small helpers -----------------------------------------------------------------------------

function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "dataset") Object.assign(element.dataset, value);
    else if (key in element) element[key] = value;
    else element.setAttribute(key, value);
  }
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

function show(id, visible = true) {
  document.getElementById(id).hidden = !visible;
}

function period() {
  const [year, month] = state.month.split("-").map(Number);
  const next = month === 12 ? `${year + 1}-01` : `${year}-${String(month + 1).padStart(2, "0")}`;
  return { start: `${state.month}-01`, end: `${next}-01` };
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

class TypedError extends Error {
  constructor({ code, message, field }) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

async function mutate(name, input) {
  const type = `${name[0].toUpperCase()}${name.slice(1)}Input`;
  const data = await api.request(
    `mutation($input: ${type}!) { ${name}(input: $input) { __typename
      ... on MutationSuccess { id eventIds } ... on Error { code message field } } }`,
    { input },
  );
  const payload = data[name];
  if (payload.__typename !== "MutationSuccess") throw new TypedError(payload);
  return payload;
}

// --- typed errors next to the field they name ----------------------------------------------------

function clearErrors(form) {
  for (const slot of $$(".field-error, .form-error", form)) slot.textContent = "";
  for (const field of $$("[aria-invalid]", form)) field.removeAttribute("aria-invalid");
}

/** The element whose data-field is the longest prefix of the error's field path. */
function fieldElement(form, path) {
  if (!path) return null;
  let best = null;
  for (const candidate of $$("[data-field]", form)) {
    const name = candidate.dataset.field;
    if ((path === name || path.startsWith(`${name}.`)) && (!best || name.length > best.dataset.field.length)) {
      best = candidate;
    }
  }
  return best;
}

function errorSlot(element) {
  if (element.tagName === "FIELDSET") return $(":scope > .field-error", element);
  const item = element.closest(".item");
  if (item) return $(".field-error", item);
  const next = (element.closest("label") ?? element).nextElementSibling;
  return next?.classList.contains("field-error") ? next : null;
}

function showError(form, error) {
  if (error instanceof TypedError) {
    const element = fieldElement(form, error.field);
    const slot = (element && errorSlot(element)) ?? $(".form-error", form);
    slot.textContent = `${error.message} (${error.code})`;
    element?.setAttribute("aria-invalid", "true");
    slot.dataset.code = error.code;
    return;
  }
  const slot = $(".form-error", form) ?? form;
  slot.textContent = error instanceof GraphQLError ? error.message : `Something went wrong: ${error.message}`;
}

// --- signing in ----------------------------------------------------------------------------------

function remember(token, name) {
  state.token = token;
  state.name = name;
  localStorage.setItem(STORAGE.token, token);
  if (name) localStorage.setItem(STORAGE.name, name);
}

function signOut() {
  for (const key of Object.values(STORAGE)) localStorage.removeItem(key);
  state.token = state.name = state.me = state.group = null;
  stopLive();
  state.live?.close();
  state.live = null;
  $("#who").textContent = "";
  show("sign-out", false);
  showOnly("sign-in");
}

function showOnly(section) {
  for (const id of ["sign-in", "register", "workspace"]) show(id, id === section);
}

async function devToken(name) {
  const response = await fetch("/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const body = await response.json();
  if (!response.ok) throw new TypedError(body);
  return body.token;
}

$("#dev-sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const name = form.elements.name.value.trim();
  try {
    remember(await devToken(name), name);
    await enter();
  } catch (error) {
    showError(form, error);
  }
});

$("#token-sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  remember(event.currentTarget.elements.token.value.trim(), null);
  await enter();
});

$("#register-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  try {
    const done = await mutate("registerUser", {
      name: form.elements.name.value,
      email: form.elements.email.value,
      idempotencyKey: form.dataset.key || (form.dataset.key = newKey()),
    });
    state.me = (await api.request(ME, { seen: done.eventIds })).me;
    await openWorkspace();
  } catch (error) {
    showError(form, error);
  }
});

$("#sign-out").addEventListener("click", signOut);

/** After a token: who am I (registering first if needed), then the workspace. */
async function enter() {
  try {
    state.me = (await api.request(ME)).me;
  } catch (error) {
    $("#sign-in-error").textContent =
      error instanceof GraphQLError ? `Not signed in: ${error.message}` : String(error);
    localStorage.removeItem(STORAGE.token);
    state.token = null;
    showOnly("sign-in");
    return;
  }
  $("#who").textContent = state.me ? state.me.name : "";
  show("sign-out");
  if (!state.me) {
    const form = $("#register-form");
    form.elements.name.value = state.name ?? "";
    form.elements.email.value = state.name ? `${state.name.toLowerCase().replace(/[^a-z0-9]+/g, ".")}@example.org` : "";
    showOnly("register");
    return;
  }
  await openWorkspace();
}

// --- the workspace -------------------------------------------------------------------------------

async function openWorkspace(seen = null) {
  $("#who").textContent = state.me.name;
  $("#my-id").textContent = `Your user id: ${state.me.id}`;
  $("#month").value = state.month;
  showOnly("workspace");
  connectLive();
  const { groups } = await api.request(GROUPS, { seen });
  const select = $("#group-select");
  select.replaceChildren(...groups.map((group) => el("option", { value: group.id }, group.name)));
  show("no-group", groups.length === 0);
  show("panels", false);
  if (!groups.length) return;
  const remembered = localStorage.getItem(STORAGE.group);
  const chosen = groups.find((group) => group.id === remembered) ?? groups[0];
  select.value = chosen.id;
  await selectGroup(chosen.id);
  show("panels"); // only once the group is loaded: its forms act on it
}

async function selectGroup(id) {
  localStorage.setItem(STORAGE.group, id);
  await loadGroup();
  subscribeGroup();
  await refreshAll();
}

async function loadGroup(seen = null) {
  const { group } = await api.request(GROUP, { g: $("#group-select").value, seen });
  const before = state.group ? membersKey(state.group) : null;
  state.group = group;
  renderMembers();
  // Only a change of group or members redraws the form: never under someone's typing.
  if (membersKey(group) !== before) renderExpenseForm();
}

function membersKey(group) {
  const active = group.members.filter((member) => member.active && member.user);
  return `${group.id}:${active.map((member) => `${member.user.id}/${member.weight}`).join(",")}`;
}

$("#group-select").addEventListener("change", (event) => selectGroup(event.currentTarget.value));

$("#month").addEventListener("change", async (event) => {
  if (!event.currentTarget.value) return;
  state.month = event.currentTarget.value;
  localStorage.setItem(STORAGE.month, state.month);
  renderExpenseForm();
  await refreshAll();
});

$("#group-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  try {
    const done = await mutate("createGroup", {
      name: form.elements.name.value,
      currency: form.elements.currency.value.trim().toUpperCase(),
      startedOn: form.elements.startedOn.value || null,
      idempotencyKey: form.dataset.key || (form.dataset.key = newKey()),
    });
    delete form.dataset.key;
    form.reset();
    $("#new-group").open = false;
    localStorage.setItem(STORAGE.group, done.id);
    await openWorkspace(done.eventIds);
  } catch (error) {
    showError(form, error);
  }
});

$("#member-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  try {
    const done = await mutate("addMember", {
      groupId: state.group.id,
      userId: form.elements.userId.value.trim(),
      role: form.elements.role.value,
      weight: Number(form.elements.weight.value || 1),
      joinedOn: form.elements.joinedOn.value || null,
      idempotencyKey: form.dataset.key || (form.dataset.key = newKey()),
    });
    delete form.dataset.key;
    form.reset();
    await loadGroup(done.eventIds);
  } catch (error) {
    showError(form, error);
  }
});

// --- panels --------------------------------------------------------------------------------------

function renderMembers() {
  $("#members").replaceChildren(
    ...state.group.members.map((member) =>
      el(
        "li",
        {},
        el("strong", {}, member.user?.name ?? "(unknown)"),
        ` ${member.role.toLowerCase()} · weight ${member.weight} · since ${member.joinedOn}`,
      ),
    ),
  );
}

async function refreshBalances(seen = null) {
  const { balances } = await api.request(BALANCES, { g: state.group.id, p: period(), seen });
  $("#balances-month").textContent = state.month;
  $("#balances tbody").replaceChildren(
    ...balances.map((row) =>
      el(
        "tr",
        {},
        el("td", {}, row.user?.name ?? "(former member)"),
        el("td", {}, row.currency),
        el("td", { className: "amount" }, formatMinor(row.paidCents, row.currency)),
        el("td", { className: "amount" }, formatMinor(row.owedCents, row.currency)),
        el("td", { className: `amount ${row.netCents < 0 ? "negative" : "positive"}` }, formatMinor(row.netCents, row.currency)),
      ),
    ),
  );
  if (!balances.length) $("#balances tbody").append(el("tr", {}, el("td", { colSpan: 5, className: "hint" }, "Nothing this month.")));
}

async function refreshSettle(seen = null) {
  const { splits } = await api.request(SPLITS, { g: state.group.id, p: period(), seen });
  const latest = splits[0];
  const status = $("#split-status");
  const list = $("#transfers");
  list.replaceChildren();
  if (!latest) {
    status.textContent = "No split for this month yet.";
    return;
  }
  status.dataset.status = latest.status;
  if (latest.status === "REQUESTED") status.textContent = "Split requested: computing…";
  else if (latest.status === "FAILED") status.textContent = `Split failed: ${latest.failureReason ?? latest.failureCode}`;
  else status.textContent = latest.transfers.length ? "To settle this month:" : "Everyone is square this month.";
  list.append(
    ...latest.transfers.map((transfer) =>
      el("li", {}, el("strong", {}, transfer.from?.name ?? "?"), " pays ", el("strong", {}, transfer.to?.name ?? "?"), ` ${formatMinor(transfer.amountCents, transfer.currency)}`),
    ),
  );
}

async function refreshInvoices(seen = null) {
  const { invoices } = await api.request(INVOICES, { g: state.group.id, seen });
  $("#invoices").replaceChildren(
    ...invoices.map((invoice) =>
      el(
        "li",
        { dataset: { invoiceId: invoice.id, status: invoice.status } },
        el("strong", {}, `${invoice.period.start} – ${invoice.period.end}`),
        ` ${invoice.status.toLowerCase()} · `,
        invoice.total.map((total) => formatMinor(total.amountCents, total.currency)).join(" + ") || "nothing owed",
      ),
    ),
  );
  if (!invoices.length) $("#invoices").append(el("li", { className: "hint" }, "No invoices yet."));
}

function expenseRow(expense) {
  const names = (shares) => shares.map((share) => `${share.user?.name ?? "?"} ${formatMinor(share.amountCents, expense.currency)}`).join(", ");
  return el(
    "tr",
    { dataset: { expenseId: expense.id } },
    el("td", {}, expense.incurredOn),
    el("td", {}, expense.description, expense.isAdjustment ? el("small", {}, " (adjustment)") : null, expense.category ? el("small", {}, ` · ${expense.category}`) : null),
    el("td", { className: "amount" }, formatMinor(expense.amountCents, expense.currency)),
    el("td", {}, names(expense.payers)),
    el("td", {}, expense.split.mode.toLowerCase()),
    el("td", {}, names(expense.shares)),
  );
}

async function refreshExpenses(seen = null, more = false) {
  const after = more ? state.expensesCursor : null;
  const { expenses } = await api.request(EXPENSES, { g: state.group.id, p: period(), after, seen });
  const rows = expenses.edges.map((edge) => expenseRow(edge.node));
  if (more) $("#expenses tbody").append(...rows);
  else $("#expenses tbody").replaceChildren(...rows);
  state.expensesCursor = expenses.pageInfo.endCursor;
  show("more-expenses", expenses.pageInfo.hasNextPage);
}

$("#more-expenses").addEventListener("click", () => refreshExpenses(null, true));

function activityItem(entry) {
  const when = new Date(entry.occurredAt).toLocaleString();
  return el("li", { dataset: { entryId: entry.id, eventType: entry.eventType } }, el("time", {}, when), ` ${entry.actor?.name ?? "aequatio"}: ${entry.summary}`);
}

async function refreshActivity(seen = null) {
  const { activity } = await api.request(ACTIVITY, { g: state.group.id, seen });
  $("#activity").replaceChildren(...activity.edges.map((edge) => activityItem(edge.node)));
}

async function refreshAll(seen = null) {
  if (!state.group) return;
  await Promise.all([refreshBalances(seen), refreshSettle(seen), refreshInvoices(seen), refreshExpenses(seen), refreshActivity(seen)]);
}

// --- the expense form ----------------------------------------------------------------------------

function memberOptions(selected) {
  return state.group.members
    .filter((member) => member.active && member.user)
    .map((member) => el("option", { value: member.user.id, selected: member.user.id === selected }, member.user.name));
}

function payerRow(index, userId) {
  return el(
    "div",
    { className: "item" },
    el("select", { name: "payer", dataset: { field: `input.payers.${index}.userId` } }, ...memberOptions(userId)),
    el("input", { name: "payerAmount", inputmode: "decimal", size: 8, placeholder: "all", dataset: { field: `input.payers.${index}.amountCents` } }),
    el("p", { className: "field-error" }),
  );
}

function renderSplitRows() {
  const mode = $("#split-mode").value;
  const active = state.group.members.filter((member) => member.active && member.user);
  $("#split-rows").replaceChildren(
    ...active.map((member, index) => {
      const field = mode === "EQUAL" ? `input.split.participants.${index}` : `input.split.weights.${index}.value`;
      const input =
        mode === "EQUAL"
          ? el("input", { type: "checkbox", name: "participant", value: member.user.id, checked: true, dataset: { field } })
          : el("input", {
              name: "weight",
              value: mode === "SHARES" ? String(member.weight) : "",
              inputmode: "decimal",
              size: 8,
              placeholder: { SHARES: "shares", EXACT: "amount", PERCENT: "%" }[mode],
              dataset: { field, userId: member.user.id },
            });
      return el("div", { className: "item" }, el("label", {}, input, ` ${member.user.name}`), el("p", { className: "field-error" }));
    }),
  );
}

function renderExpenseForm() {
  const form = $("#expense-form");
  form.elements.currency.value ||= state.group.currency ?? "EUR";
  const today = new Date().toISOString().slice(0, 10);
  form.elements.incurredOn.value = today.startsWith(state.month) ? today : `${state.month}-01`;
  $("#payers").replaceChildren(payerRow(0, state.me.id));
  renderSplitRows();
}

$("#split-mode").addEventListener("change", renderSplitRows);
$("#add-payer").addEventListener("click", () => {
  const index = $$("#payers .item").length;
  $("#payers").append(payerRow(index, null));
});

class LocalError extends TypedError {}

function minor(text, currency, field) {
  const value = toMinor(text, currency);
  if (value === null) throw new LocalError({ code: "AMOUNT_INVALID", message: `Not an amount in ${currency}`, field });
  return value;
}

function expenseInput(form) {
  const currency = form.elements.currency.value.trim().toUpperCase();
  const amountCents = minor(form.elements.amount.value, currency, "input.amountCents");
  const rows = $$("#payers .item");
  const payers = rows.map((row, index) => {
    const text = $("[name=payerAmount]", row).value.trim();
    const amount = !text && rows.length === 1 ? amountCents : minor(text, currency, `input.payers.${index}.amountCents`);
    return { userId: $("[name=payer]", row).value, amountCents: amount };
  });
  const mode = $("#split-mode").value;
  let split = null;
  // Each row's data-field follows its position in what is sent, so the server's error path
  // (input.split.weights.1.value) lands next to the right member.
  if (mode === "EQUAL") {
    const boxes = $$("[name=participant]", form);
    const chosen = boxes.filter((box) => box.checked);
    chosen.forEach((box, index) => (box.dataset.field = `input.split.participants.${index}`));
    if (chosen.length !== boxes.length) split = { mode, participants: chosen.map((box) => box.value) };
  } else {
    const inputs = $$("[name=weight]", form);
    for (const input of inputs) delete input.dataset.field;
    const filled = inputs.filter((input) => input.value.trim() !== "");
    const weights = filled.map((input, index) => {
      const field = `input.split.weights.${index}.value`;
      input.dataset.field = field;
      let value;
      if (mode === "SHARES") value = /^\d+$/.test(input.value.trim()) ? Number(input.value) : null;
      else if (mode === "EXACT") value = toMinor(input.value, currency);
      else value = toBasisPoints(input.value);
      if (value === null) throw new LocalError({ code: "VALUE_INVALID", message: "Not a valid value", field });
      return { userId: input.dataset.userId, value };
    });
    split = { mode, weights };
  }
  return {
    groupId: state.group.id,
    description: form.elements.description.value,
    amountCents,
    currency,
    incurredOn: form.elements.incurredOn.value,
    category: form.elements.category.value.trim() || null,
    payers,
    split,
  };
}

$("#expense-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  try {
    const input = expenseInput(form);
    input.idempotencyKey = form.dataset.key || (form.dataset.key = newKey());
    const done = await mutate("addExpense", input);
    delete form.dataset.key;
    form.elements.description.value = "";
    form.elements.amount.value = "";
    form.elements.category.value = "";
    for (const input of $$("[name=payerAmount]", form)) input.value = "";
    await refreshAll(done.eventIds);
  } catch (error) {
    showError(form, error);
  }
});

// --- splits and invoices -------------------------------------------------------------------------

function settleFailed(error) {
  const slot = $("#settle-error");
  slot.textContent = error instanceof TypedError ? `${error.message} (${error.code})` : String(error.message ?? error);
  slot.dataset.code = error.code ?? "";
}

$("#request-split").addEventListener("click", async () => {
  $("#settle-error").textContent = "";
  try {
    const done = await mutate("requestSplit", { groupId: state.group.id, period: period(), idempotencyKey: newKey() });
    await refreshSettle(done.eventIds);
  } catch (error) {
    settleFailed(error);
  }
});

$("#create-invoice").addEventListener("click", async () => {
  $("#settle-error").textContent = "";
  try {
    await mutate("createInvoice", { groupId: state.group.id, period: period(), idempotencyKey: newKey() });
    $("#split-status").textContent = "Invoice requested: it appears below once issued.";
  } catch (error) {
    settleFailed(error);
  }
});

// --- live ----------------------------------------------------------------------------------------

const pending = new Map();

/** Run `refresh` once shortly, however many events ask for it meanwhile. */
function soon(name, refresh) {
  if (pending.has(name)) return;
  pending.set(
    name,
    setTimeout(async () => {
      pending.delete(name);
      try {
        await refresh();
      } catch (error) {
        console.warn(`refreshing ${name} failed`, error);
      }
    }, 100),
  );
}

function connectLive() {
  if (state.live) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  state.live = new LiveConnection(`${scheme}://${location.host}/graphql`, () => state.token, {
    onStatus: (status) => {
      const badge = $("#live-status");
      badge.dataset.state = status;
      badge.textContent = status;
    },
    onReconnect: () => soon("all", () => refreshAll()),
    onRejected: async () => {
      if (state.devSignIn && state.name) {
        remember(await devToken(state.name), state.name);
        state.live = null;
        connectLive();
        subscribeGroup();
      } else signOut();
    },
  });
}

function stopLive() {
  for (const unsubscribe of state.unsubscribe) unsubscribe();
  state.unsubscribe = [];
}

function subscribeGroup() {
  stopLive();
  const variables = { g: state.group.id };
  const inMonth = (start) => start === period().start;
  state.unsubscribe = [
    state.live.subscribe(SPLIT_COMPLETED, variables, ({ splitCompleted }) => {
      if (inMonth(splitCompleted.period.start)) {
        soon("settle", () => refreshSettle());
        soon("balances", () => refreshBalances());
      }
    }),
    state.live.subscribe(INVOICE_CREATED, variables, () => soon("invoices", () => refreshInvoices())),
    state.live.subscribe(GROUP_ACTIVITY, variables, ({ groupActivity }) => {
      if (!$(`#activity [data-entry-id="${CSS.escape(groupActivity.id)}"]`)) {
        $("#activity").prepend(activityItem(groupActivity));
      }
      const type = groupActivity.eventType;
      if (type.startsWith("expense.")) {
        soon("expenses", () => refreshExpenses());
        soon("balances", () => refreshBalances());
      } else if (type.startsWith("group.")) soon("group", () => loadGroup());
      else if (type.startsWith("split.")) soon("settle", () => refreshSettle());
      else if (type.startsWith("invoice.")) soon("invoices", () => refreshInvoices());
    }),
  ];
}

// --- start ---------------------------------------------------------------------------------------

async function start() {
  try {
    state.devSignIn = (await (await fetch("/dev/config")).json()).devSignIn === true;
  } catch {
    state.devSignIn = false;
  }
  show("dev-sign-in", state.devSignIn);
  if (state.devSignIn && state.name && !state.token) {
    try {
      remember(await devToken(state.name), state.name);
    } catch {
      /* sign in by hand */
    }
  }
  if (state.token) await enter();
  else showOnly("sign-in");
}

start();
