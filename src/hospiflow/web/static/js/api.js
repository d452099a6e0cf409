// The dashboard's only door to data: the hospiflow REST API under /api/v1.
// An access token, when the manager gives one, lives in sessionStorage only (gone when the
// tab closes) and goes with every request as `Authorization: Bearer`, and on the SSE URL as
// `access_token` (a browser's EventSource cannot send headers).

const BASE = "/api/v1";
const TOKEN_KEY = "hospiflow.token";
export const UNAUTHORIZED = "hospiflow:unauthorized";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code;
    this.details = error.details;
  }
}

export function token() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts as long as this page */ }
}

function headers(extra = {}, given = "") {
  const all = { Accept: "application/json", ...extra };
  const bearer = given || token();
  if (bearer) all.Authorization = `Bearer ${bearer}`;
  return all;
}

// A read. A 401 tells the shell to ask for a token (unless `signIn: false`: the caller
// handles it, e.g. an administrator-only list).
export async function get(path, params = {}, { signIn = true } = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") query.set(key, value);
  }
  const url = `${BASE}${path}${query.toString() ? `?${query}` : ""}`;
  const response = await fetch(url, { headers: headers() });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, body);
    if (response.status === 401 && signIn) window.dispatchEvent(new CustomEvent(UNAUTHORIZED, { detail: error }));
    throw error;
  }
  return body;
}

// A write; `given` (a token typed in a form) wins over the stored one.
export async function send(method, path, given, payload) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: headers({ "Content-Type": "application/json" }, given),
    body: payload === undefined ? undefined : JSON.stringify(payload),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export function streamUrl(runId, params = {}) {
  const query = new URLSearchParams(params);
  const bearer = token();
  if (bearer) query.set("access_token", bearer);
  const text = query.toString();
  return `${BASE}/runs/${runId}/stream${text ? `?${text}` : ""}`;
}
