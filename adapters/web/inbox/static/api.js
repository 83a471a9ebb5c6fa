// The page's one way to the hub: the JSON API under /inbox/api, and what its refusals mean.

import { agentName, state } from "./state.js";
import { t } from "./texts.js";

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.error || body.reason)) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(`/inbox/api${path}`, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { error: t("offline") });
  }
  if (response.status === 401) {
    window.location.assign("/inbox/login");
    throw new ApiError(401, {});
  }
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) data = await response.json();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// Runs `work` now, or once more after the run in flight, however often it is asked for:
// a burst of live events costs at most two fetches, and the last one sees them all.
export function coalesced(work) {
  let running = null;
  let again = false;
  const run = async () => {
    do {
      again = false;
      try {
        await work();
      } catch (error) {
        if (!(error instanceof ApiError)) throw error;
      }
    } while (again);
    running = null;
  };
  return () => {
    if (running) again = true;
    else running = run();
    return running;
  };
}

// What a refusal of the hub means, in the agent's words.
export function errorText(error) {
  const body = error.body || {};
  const reason = body.reason || body.error || error.message;
  if (error.status === 409 && body.code === "already_taken") {
    const owner = state.detail?.assigned_agent;
    const byId = body.by_agent_id ?? owner?.id;
    const name = body.by_agent_name || (owner && owner.id === byId ? owner.name : "") ||
      (byId != null ? agentName(byId) : "");
    return name && name !== t("you") ? t("taken_by", { name }) : t("taken");
  }
  if (error.status === 403) return t("not_owner");
  if (error.status === 409 && body.code === "outside_window") return t("window_closed");
  if (error.status === 409) return t("conflict", { reason });
  if (error.status === 0) return t("offline");
  return t("failed", { reason });
}
