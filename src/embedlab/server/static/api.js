// Calls to this server only (relative URLs), with its OpenAI-shaped errors turned into readable messages.

const KEY = "embedlab-api-key";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

async function request(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (getKey()) headers.Authorization = `Bearer ${getKey()}`;
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    throw new ApiError(0, `the server cannot be reached (${err.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error && data.error.message ? data.error.message : text || response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

export const get = (path) => request("GET", path);
export const post = (path, body) => request("POST", path, body);
