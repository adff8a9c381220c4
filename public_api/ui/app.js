// The ELU Twins dashboard: the user's charge points with their connectors, the selected
// session's power and SoC, and the OCPP frames of its charge point, kept live by a feed.
// It speaks only the public API, with the bearer token from /token kept in sessionStorage.

import { drawChart } from "./chart.js";
import { StreamedFeed } from "./feed.js";

const TOKEN_KEY = "elu.token";
const FRAMES_SHOWN = 40;
const VEHICLES_EVERY_TICKS = 5;
const API = new URL("..", window.location.href).href.replace(/\/$/, "");

const $ = (id) => document.getElementById(id);
// The stream authenticates with ?token= (EventSource cannot send a header). Only frames,
// statuses, transactions and samples change what the dashboard shows.
const feed = new StreamedFeed(
  () =>
    `/twin/events?kinds=frame,charge_point,connector,transaction,meter,vehicle&token=` +
    encodeURIComponent(sessionStorage.getItem(TOKEN_KEY) ?? ""),
);

const state = {
  chargePoints: [],
  vehicles: [],
  selected: null, // {chargePointId, connectorId, transactionId}
  samples: [], // meter values of the selected transaction, oldest first
  live: [], // live reads taken since the last sample
  transaction: null,
  frames: [],
  framesCount: 0,
  ticks: 0,
};

// ---------------------------------------------------------------- the API

class ApiError extends Error {
  constructor(status, detail, code) {
    super(describeDetail(detail));
    this.status = status;
    this.code = code;
  }
}

/** The API's `detail`, a sentence or a list of validation errors, as one line. */
function describeDetail(detail) {
  if (Array.isArray(detail)) {
    return detail
      .map((item) => `${(item.loc || []).filter((part) => part !== "body").join(".")}: ${item.msg}`)
      .join("; ");
  }
  return typeof detail === "string" ? detail : JSON.stringify(detail);
}

async function api(path, { method = "GET", body, form } = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (form) {
    payload = new URLSearchParams(form);
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(`${API}${path}`, { method, headers, body: payload });
  } catch (error) {
    throw new ApiError(0, `the API at ${API} does not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data?.detail ?? response.statusText, data?.code);
    if (response.status === 401 && path !== "/token") signOut("Your session has ended: sign in again.");
    throw error;
  }
  return data;
}

function errorMessage(error, what) {
  if (!(error instanceof ApiError) || error.status === 0) return `${what}: ${error.message}`;
  const code = error.code ? ` ${error.code}` : "";
  return `${what} failed (${error.status}${code}): ${error.message}`;
}

function showError(message) {
  $("error-text").textContent = message;
  $("error").hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error-text").textContent = "";
}

// ---------------------------------------------------------------- formatting

const kw = (value) => `${Number(value || 0).toFixed(1)} kW`;
const kwh = (value) => `${Number(value || 0).toFixed(2)} kWh`;
const percent = (value) => (value === null || value === undefined ? "–" : `${Number(value).toFixed(1)} %`);
const connectorPower = (connector) => connector.current_ac_power || connector.current_dc_power || 0;

function statusClass(status) {
  const value = (status || "").toLowerCase();
  if (["charging", "connected", "accepted"].includes(value)) return "ok";
  if (["available"].includes(value)) return "idle";
  if (["preparing", "finishing", "occupied", "suspendedev", "suspendedevse", "reserved", "pending"].includes(value)) return "busy";
  if (["faulted", "rejected"].includes(value)) return "bad";
  return "off";
}

const PILL_KINDS = ["ok", "idle", "busy", "bad", "off"];

function setPill(node, text, kind) {
  node.textContent = text;
  node.classList.remove(...PILL_KINDS);
  node.classList.add("pill", kind ?? statusClass(text));
}

function timeOf(iso) {
  return new Date(iso).toLocaleTimeString([], { hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// ---------------------------------------------------------------- actions

async function runAction(button, what, action, body) {
  const label = button.textContent;
  button.disabled = true;
  button.classList.add("busy");
  try {
    const answer = await api(`/twin/charge-point/action/${action}`, { method: "POST", body });
    clearError();
    return answer;
  } catch (error) {
    showError(errorMessage(error, what));
    return null;
  } finally {
    button.textContent = label;
    button.classList.remove("busy");
    button.disabled = false;
    feed.kick();
  }
}

async function onConnectorAction(event, chargePoint, connector, row) {
  const action = event.target.dataset.action;
  const vehicleId = row.querySelector(".c-vehicle").value;
  const where = `${chargePoint.name} #${connector.connectorid}`;
  if ((action === "start" || action === "plug") && !vehicleId) {
    showError(`${where}: choose a vehicle first (create one with POST /twin/vehicle/)`);
    return;
  }
  if (action === "start") {
    select(chargePoint.id, connector.id, null);
    const transaction = await runAction(event.target, `Start on ${where}`, "start-transaction", {
      connector_id: connector.id,
      vehicle_id: vehicleId,
    });
    if (transaction) select(chargePoint.id, connector.id, transaction.id);
  } else if (action === "stop") {
    await runAction(event.target, `Stop on ${where}`, "stop-transaction", {
      transaction_id: connector.transaction_id,
    });
  } else if (action === "plug") {
    await runAction(event.target, `Plug in on ${where}`, "plug-in", {
      connector_id: connector.id,
      vehicle_id: vehicleId,
    });
  } else if (action === "unplug") {
    await runAction(event.target, `Unplug on ${where}`, "unplug", { connector_id: connector.id });
  } else if (action === "fault") {
    await runAction(event.target, `Fault on ${where}`, "set-faulted", {
      connector_id: connector.id,
      error_code: "OtherError",
    });
  } else if (action === "clear") {
    await runAction(event.target, `Clear fault on ${where}`, "clear-fault", { connector_id: connector.id });
  }
}

// ---------------------------------------------------------------- charge points

const cards = new Map(); // charge point id -> {card, rows: Map(connector id -> row)}
const latest = new Map(); // charge point id -> the charge point last read

function buildCard(chargePoint) {
  const card = $("charge-point-template").content.firstElementChild.cloneNode(true);
  card.dataset.id = chargePoint.id;
  card.querySelector(".cp-connect").addEventListener("click", (event) => {
    const current = latest.get(chargePoint.id);
    const connect = !current.connected;
    runAction(
      event.target,
      `${connect ? "Connect" : "Disconnect"} ${current.name}`,
      connect ? "connect-charger" : "disconnect-charger",
      { charge_point_id: chargePoint.id },
    );
  });
  card.querySelector(".cp-head").addEventListener("click", (event) => {
    if (event.target.closest("button")) return;
    const current = latest.get(chargePoint.id);
    const first = current.evses[0].connectors[0];
    select(chargePoint.id, first.id, first.transaction_id ?? null);
  });
  const rows = new Map();
  const body = card.querySelector("tbody");
  for (const evse of chargePoint.evses) {
    for (const connector of evse.connectors) {
      const row = $("connector-template").content.firstElementChild.cloneNode(true);
      row.dataset.id = connector.id;
      row.addEventListener("click", (event) => {
        if (event.target.closest("button, select")) return;
        const current = findConnector(latest.get(chargePoint.id), connector.id);
        select(chargePoint.id, connector.id, current?.transaction_id ?? null);
      });
      for (const button of row.querySelectorAll("button[data-action]")) {
        button.addEventListener("click", (event) => {
          const current = latest.get(chargePoint.id);
          onConnectorAction(event, current, findConnector(current, connector.id), row);
        });
      }
      body.append(row);
      rows.set(connector.id, row);
    }
  }
  return { card, rows };
}

function findConnector(chargePoint, connectorId) {
  for (const evse of chargePoint?.evses ?? []) {
    for (const connector of evse.connectors) if (connector.id === connectorId) return connector;
  }
  return null;
}

function fillVehicles(selectNode, connector) {
  const wanted = selectNode.value || connector.vehicle_id || "";
  const options = [new Option("choose a vehicle…", "")];
  for (const vehicle of state.vehicles) {
    const busy = vehicle.status === "ready-to-charge" ? "" : ` · ${vehicle.status}`;
    const label = `${vehicle.name} · ${Math.round(vehicle.soc)} %${busy}`;
    options.push(new Option(label, vehicle.id));
  }
  const signature = options.map((option) => `${option.value}:${option.text}`).join("|");
  if (selectNode.dataset.signature !== signature) {
    selectNode.replaceChildren(...options);
    selectNode.dataset.signature = signature;
  }
  const free = state.vehicles.find((vehicle) => vehicle.status === "ready-to-charge");
  selectNode.value = connector.vehicle_id || wanted || (free ? free.id : "");
}

function renderConnector(row, chargePoint, connector) {
  setPill(row.querySelector(".c-status"), connector.status);
  row.querySelector(".c-number").textContent = connector.connectorid;
  const power = connectorPower(connector);
  row.querySelector(".c-power").textContent = kw(power);
  row.querySelector(".c-energy").textContent = connector.transaction_id ? kwh(connector.current_energy) : "–";
  row.querySelector(".c-soc").textContent = percent(connector.soc);
  row.classList.toggle("charging", power > 0);
  row.classList.toggle("selected", state.selected?.connectorId === connector.id);
  fillVehicles(row.querySelector(".c-vehicle"), connector);
  const buttons = Object.fromEntries(
    [...row.querySelectorAll("button[data-action]")].map((button) => [button.dataset.action, button]),
  );
  const inSession = Boolean(connector.transaction_id);
  const faulted = connector.status === "Faulted";
  const show = (name, visible) => {
    buttons[name].hidden = !visible;
  };
  show("start", !inSession);
  show("stop", inSession);
  show("plug", !connector.vehicle_id && !inSession);
  show("unplug", Boolean(connector.vehicle_id));
  show("fault", !faulted);
  show("clear", faulted);
  row.querySelector(".c-vehicle").disabled = Boolean(connector.vehicle_id);
}

function renderChargePoints(page) {
  const chargePoints = page.data;
  state.chargePoints = chargePoints;
  const container = $("charge-points");
  const ids = new Set(chargePoints.map((chargePoint) => chargePoint.id));
  for (const [id, entry] of cards) {
    if (!ids.has(id)) {
      entry.card.remove();
      cards.delete(id);
      latest.delete(id);
    }
  }
  let connectors = 0;
  let charging = 0;
  let connected = 0;
  for (const chargePoint of chargePoints) {
    latest.set(chargePoint.id, chargePoint);
    let entry = cards.get(chargePoint.id);
    if (!entry) {
      entry = buildCard(chargePoint);
      cards.set(chargePoint.id, entry);
    }
    container.append(entry.card); // keeps the API's order
    const { card, rows } = entry;
    card.querySelector(".cp-name").textContent = chargePoint.name;
    card.querySelector(".cp-meta").textContent =
      `${chargePoint.cid} · ${chargePoint.ocpp_protocol.replace("ocpp", "OCPP ")} · ${chargePoint.csms_url}` +
      (chargePoint.speed_factor !== 1 ? ` · ×${chargePoint.speed_factor}` : "");
    const status = chargePoint.connected ? chargePoint.status : "disconnected";
    setPill(card.querySelector(".cp-status"), status, chargePoint.connected ? statusClass(status) : "off");
    const connectButton = card.querySelector(".cp-connect");
    if (!connectButton.classList.contains("busy")) {
      connectButton.textContent = chargePoint.connected ? "Disconnect" : "Connect";
      connectButton.className = `cp-connect ${chargePoint.connected ? "" : "primary"}`;
    }
    card.classList.toggle("selected", state.selected?.chargePointId === chargePoint.id);
    connected += chargePoint.connected ? 1 : 0;
    for (const evse of chargePoint.evses) {
      for (const connector of evse.connectors) {
        connectors += 1;
        charging += connectorPower(connector) > 0 ? 1 : 0;
        const row = rows.get(connector.id);
        if (row) renderConnector(row, chargePoint, connector);
        followSelectedConnector(chargePoint, connector);
      }
    }
  }
  if (state.selected && !ids.has(state.selected.chargePointId)) forgetSelection();
  if (!state.selected && chargePoints.length) selectSomething(chargePoints);
  $("no-charge-points").hidden = chargePoints.length > 0;
  $("fleet-summary").textContent =
    `${page.count} charge points · ${connected} connected · ${charging} of ${connectors} connectors charging`;
  if (state.selected) renderSessionFromConnector();
}

/** A new session on the selected connector (e.g. remote-started by the CSMS) is followed. */
function followSelectedConnector(chargePoint, connector) {
  const selected = state.selected;
  if (!selected || selected.connectorId !== connector.id) return;
  if (connector.transaction_id && connector.transaction_id !== selected.transactionId) {
    select(chargePoint.id, connector.id, connector.transaction_id);
  }
}

// ---------------------------------------------------------------- the selected session

/** At first, follow a charging connector if there is one, else the first connector. */
function selectSomething(chargePoints) {
  const all = chargePoints.flatMap((chargePoint) =>
    chargePoint.evses.flatMap((evse) => evse.connectors.map((connector) => [chargePoint, connector])),
  );
  const [chargePoint, connector] = all.find(([, c]) => c.transaction_id) ?? all[0];
  select(chargePoint.id, connector.id, connector.transaction_id ?? null);
}

/** The selected charge point was deleted (here or elsewhere): stop following it. */
function forgetSelection() {
  for (const key of ["frames", "samples", "transaction"]) feed.unwatch(key);
  Object.assign(state, { selected: null, samples: [], live: [], transaction: null, frames: [], framesCount: 0 });
  renderFrames();
}

/**
 * Watch something of the selection; when it answers 404 it was deleted (here or elsewhere),
 * which is no error to show: the selection is forgotten.
 */
function watchSelected(key, load, apply) {
  const gone = Symbol("gone");
  feed.watch(
    key,
    () => load().catch((error) => {
      if (error.status === 404) return gone;
      throw error;
    }),
    (data) => (data === gone ? forgetSelection() : apply(data)),
  );
}

function select(chargePointId, connectorId, transactionId) {
  const previous = state.selected;
  state.selected = { chargePointId, connectorId, transactionId };
  if (previous?.chargePointId !== chargePointId) {
    state.frames = [];
    state.framesCount = 0;
    renderFrames();
    watchSelected("frames", () => loadNewFrames(chargePointId), applyFrames);
  }
  if (previous?.transactionId !== transactionId || !transactionId) {
    state.samples = [];
    state.live = [];
    state.transaction = null;
    if (transactionId) {
      watchSelected("samples", () => loadNewSamples(transactionId), applySamples);
      watchSelected("transaction", () => api(`/operations/charge_point/transaction/${transactionId}`), applyTransaction);
    } else {
      feed.unwatch("samples");
      feed.unwatch("transaction");
    }
  }
  for (const [id, entry] of cards) {
    entry.card.classList.toggle("selected", id === chargePointId);
    for (const [rowId, row] of entry.rows) row.classList.toggle("selected", rowId === connectorId);
  }
  renderSession();
}

async function loadNewSamples(transactionId) {
  const fresh = [];
  let offset = state.samples.length;
  for (;;) {
    const page = await api(`/operations/charge_point/transaction/${transactionId}/meter-values?offset=${offset}&limit=10000`);
    fresh.push(...page.data);
    offset += page.data.length;
    if (!page.data.length || offset >= page.count) return fresh;
  }
}

function applySamples(fresh) {
  if (!fresh.length) return;
  state.samples.push(...fresh);
  const lastSample = Date.parse(state.samples[state.samples.length - 1].timestamp);
  state.live = state.live.filter((point) => point.t > lastSample);
  renderChart();
}

function applyTransaction(transaction) {
  if (state.transaction?.id === transaction.id) transaction.seenAt = state.transaction.seenAt;
  state.transaction = transaction;
  if (transaction.end_time) {
    // An ended session changes no more: read its last meter values once, then stop asking.
    feed.unwatch("transaction");
    feed.unwatch("samples");
    state.live = [];
    loadNewSamples(transaction.id).then((fresh) => {
      if (state.selected?.transactionId === transaction.id) applySamples(fresh);
    }, (error) => showError(errorMessage(error, "Reading the meter values")));
  }
  renderSession();
}

/**
 * Between two meter values the chart goes on with the live reads of the connector. Samples
 * carry the twin's simulated time, so a live read is placed after the newest sample (or the
 * start of the session, before the first sample) by the real time since that was first seen
 * here, times the charge point's speed. A sample that arrives replaces the live reads before it.
 */
function renderSessionFromConnector() {
  const { chargePointId, connectorId, transactionId } = state.selected;
  const chargePoint = latest.get(chargePointId);
  const connector = findConnector(chargePoint, connectorId);
  const anchor = state.samples.length ? state.samples[state.samples.length - 1] : state.transaction;
  if (!connector || !transactionId || connector.transaction_id !== transactionId || !anchor) {
    renderSession();
    return;
  }
  anchor.seenAt ??= Date.now();
  const since = Date.parse(anchor.timestamp ?? anchor.start_time);
  const t = since + (Date.now() - anchor.seenAt) * chargePoint.speed_factor;
  const previous = state.live[state.live.length - 1];
  if (!previous || t > previous.t) state.live.push({ t, power: connectorPower(connector), soc: connector.soc });
  renderChart();
  renderSession();
}

function chartPoints() {
  const samples = state.samples.map((sample) => ({
    t: Date.parse(sample.timestamp),
    power: sample.power_w / 1000,
    soc: sample.soc,
  }));
  return samples.concat(state.live);
}

function renderChart() {
  drawChart($("chart"), chartPoints());
}

function renderSession() {
  const selected = state.selected;
  const chargePoint = selected && latest.get(selected.chargePointId);
  const connector = chargePoint && findConnector(chargePoint, selected.connectorId);
  const transaction = state.transaction;
  $("session-hint").hidden = Boolean(selected);
  $("session-stats").hidden = !selected;
  if (!selected || !chargePoint || !connector) {
    $("session-title").textContent = "Session";
    $("session-status").hidden = true;
    renderChart();
    return;
  }
  const where = `${chargePoint.name} #${connector.connectorid}`;
  $("session-title").textContent = transaction
    ? `Session ${transaction.transactionid ?? ""} · ${where}`
    : `${where} · no session`;
  const running = transaction && !transaction.end_time;
  $("session-status").hidden = !transaction;
  if (transaction) setPill($("session-status"), running ? connector.status : `ended · ${transaction.stop_reason ?? "stopped"}`, running ? undefined : "off");
  const live = connector.transaction_id === selected.transactionId && Boolean(selected.transactionId) && (!transaction || running);
  $("session-power").textContent = live ? kw(connectorPower(connector)) : "–";
  $("session-energy").textContent = transaction ? kwh(transaction.energy) : "–";
  const lastSoc = [...chartPoints()].reverse().find((point) => point.soc !== null && point.soc !== undefined);
  $("session-soc").textContent = live ? percent(connector.soc) : percent(lastSoc?.soc);
  $("session-start").textContent = transaction ? timeOf(transaction.start_time) : "–";
  if (!state.samples.length && !state.live.length) renderChart();
}

// ---------------------------------------------------------------- OCPP frames

async function loadNewFrames(chargePointId) {
  const path = `/twin/charge-point/${chargePointId}/message-log`;
  let offset = Math.max(0, state.framesCount - 1);
  let page = await api(`${path}?offset=${offset}&limit=1000`);
  if (offset + page.data.length < page.count || page.count < state.framesCount) {
    offset = Math.max(0, page.count - FRAMES_SHOWN);
    page = await api(`${path}?offset=${offset}&limit=1000`);
    return { reset: true, frames: page.data, count: page.count };
  }
  const known = new Set(state.frames.map((frame) => frame.id));
  return { reset: false, frames: page.data.filter((frame) => !known.has(frame.id)), count: page.count };
}

function applyFrames({ reset, frames, count }) {
  if (!reset && !frames.length && count === state.framesCount) return;
  state.frames = (reset ? frames : state.frames.concat(frames)).slice(-FRAMES_SHOWN);
  state.framesCount = count;
  renderFrames();
}

const MESSAGE_TYPES = { 2: "CALL", 3: "RESULT", 4: "ERROR", CALLRESULT: "RESULT", CALLERROR: "ERROR" };

function renderFrames() {
  const selected = state.selected;
  const chargePoint = selected && latest.get(selected.chargePointId);
  $("frames-of").textContent = chargePoint ? `· ${chargePoint.name}` : "";
  const loggingOff = chargePoint?.message_log === false ? " · message log off: new frames are not kept" : "";
  $("frames-count").textContent = chargePoint ? `${state.framesCount} in the log${loggingOff}` : "";
  const items = [...state.frames].reverse().map((frame) => {
    const item = document.createElement("li");
    item.className = `frame ${frame.direction}`;
    const head = document.createElement("div");
    head.className = "frame-head";
    const arrow = frame.direction === "sent" ? "→ CSMS" : "← CSMS";
    const type = MESSAGE_TYPES[frame.message_type] ?? frame.message_type;
    for (const [cls, text] of [
      ["time", timeOf(frame.timestamp)],
      ["direction", arrow],
      ["type", type],
      ["action", frame.action ?? ""],
    ]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = text;
      head.append(span);
    }
    const payload = document.createElement("code");
    payload.className = "payload";
    const json = JSON.stringify(frame.payload);
    payload.textContent = json.length > 240 ? `${json.slice(0, 240)}…` : json;
    item.append(head, payload);
    return item;
  });
  $("frames").replaceChildren(...items);
  if (!chargePoint) {
    const hint = document.createElement("li");
    hint.className = "muted empty";
    hint.textContent = "Select a charge point to follow its OCPP frames.";
    $("frames").append(hint);
  }
}

// ---------------------------------------------------------------- sign in / out

async function loadVehicles() {
  if (state.ticks++ % VEHICLES_EVERY_TICKS !== 0) return null;
  return api("/twin/vehicle/?limit=1000");
}

function applyVehicles(page) {
  if (page) state.vehicles = page.data;
}

async function startDashboard() {
  $("login-view").hidden = true;
  $("dashboard-view").hidden = false;
  $("account").hidden = false;
  try {
    const me = await api("/user/me");
    $("who").textContent = me.username;
  } catch (error) {
    if (error.status !== 401) showError(errorMessage(error, "Reading your account"));
    return;
  }
  feed.onError = (error) => {
    $("live-indicator").classList.add("stale");
    if (error.status !== 401) showError(errorMessage(error, "Refreshing"));
  };
  feed.onTick = () => $("live-indicator").classList.remove("stale");
  feed.watch("vehicles", loadVehicles, applyVehicles);
  feed.watch("charge-points", () => api("/twin/charge-point/?limit=1000"), renderChargePoints);
  feed.start();
  renderSession();
  renderFrames();
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  feed.stop();
  for (const entry of cards.values()) entry.card.remove();
  cards.clear();
  latest.clear();
  Object.assign(state, { selected: null, samples: [], live: [], transaction: null, frames: [], framesCount: 0, ticks: 0 });
  $("dashboard-view").hidden = true;
  $("account").hidden = true;
  $("login-view").hidden = false;
  $("login-error").textContent = message ?? "";
}

async function signIn(event) {
  event.preventDefault();
  const form = new FormData(event.target);
  $("login-error").textContent = "";
  try {
    const token = await api("/token", {
      method: "POST",
      form: { username: form.get("username"), password: form.get("password") },
    });
    sessionStorage.setItem(TOKEN_KEY, token.access_token);
    event.target.reset();
    clearError();
    startDashboard();
  } catch (error) {
    $("login-error").textContent = error.status === 0 ? error.message : `Sign-in failed: ${error.message}`;
  }
}

$("login-form").addEventListener("submit", signIn);
$("logout").addEventListener("click", () => signOut());
$("error-close").addEventListener("click", clearError);
window.addEventListener("resize", renderChart);

if (sessionStorage.getItem(TOKEN_KEY)) startDashboard();
else signOut();
