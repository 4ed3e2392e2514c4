// The UI's only way to the server: HTTP with the session cookie (same origin), never a token in
// a URL or in browser storage. The namespace travels in the Kiln-Namespace header.
import { state } from "./state.js";

/** An error answer of the API, with its stable code. */
export class ApiError extends Error {
  constructor(code, message, status, data) {
    super(message);
    this.code = code;
    this.status = status;
    this.data = data;
  }
}

/** Calls the API and returns its JSON body, or throws an ApiError carrying the API's code. */
export async function api(path, { method = "GET", body, namespace = state.namespace } = {}) {
  const headers = {};
  if (namespace) headers["kiln-namespace"] = namespace;
  if (body !== undefined) headers["content-type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new ApiError("NETWORK", `The server did not answer (${error.message}); is kiln still running?`, 0);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    const error = data.error ?? { code: `HTTP_${res.status}`, message: res.statusText };
    throw new ApiError(error.code, error.message, res.status, error.data);
  }
  return data;
}

/**
 * Follows a Server-Sent Events URL; `on` maps event types to handlers. The browser reconnects on
 * its own; returns a function that closes the stream.
 */
export function follow(path, on) {
  const url = new URL(path, location.origin);
  if (state.namespace) url.searchParams.set("namespace", state.namespace);
  const source = new EventSource(url, { withCredentials: true });
  for (const [type, handler] of Object.entries(on)) {
    source.addEventListener(type, (event) => handler(JSON.parse(event.data)));
  }
  return () => source.close();
}
