// The dashboard's only way to the platform: its public HTTP API (NGSI-LD and /cityfabric/v1).

import { contextOf } from "./catalog";
import type { Entity } from "./transforms/entity";
import { parseEvents } from "./transforms/sse";

const NGSI = "/ngsi-ld/v1";
export const PAGE_MAX = 1000; // the broker's page size limit

export class ApiError extends Error {}

let tenant = "";

export function setTenant(name: string): void {
  tenant = name;
}

export function currentTenant(): string {
  return tenant;
}

function headers(type?: string, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { Accept: "application/json", ...extra };
  if (tenant) out["NGSILD-Tenant"] = tenant;
  const ctx = type ? contextOf(type) : undefined;
  if (ctx) {
    out.Link = `<${ctx}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;
  }
  return out;
}

async function check(response: Response): Promise<Response> {
  if (response.ok) return response;
  let detail = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { detail?: string; title?: string };
    detail = `${body.title ?? response.status}: ${body.detail ?? ""}`;
  } catch {
    // not a problem document
  }
  throw new ApiError(detail);
}

const query = (params: Record<string, string | number>): string =>
  new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString();

export interface Page {
  entities: Entity[];
  count: number;
}

/** One page of entities of a type (keyValues), with the total count. */
export async function entityPage(
  type: string, params: Record<string, string | number>, signal?: AbortSignal,
): Promise<Page> {
  const url = `${NGSI}/entities?${query({ type, options: "keyValues", count: "true", ...params })}`;
  const r = await check(await fetch(url, { headers: headers(type), signal }));
  const count = Number(r.headers.get("NGSILD-Results-Count") ?? "0");
  return { entities: (await r.json()) as Entity[], count };
}

/** Every entity of a type (keyValues), up to `max`: the first page, then the rest at once. */
export async function allEntities(
  type: string, params: Record<string, string> = {}, max = 20_000, signal?: AbortSignal,
): Promise<Entity[]> {
  const first = await entityPage(type, { ...params, limit: PAGE_MAX, offset: 0 }, signal);
  const offsets: number[] = [];
  for (let o = PAGE_MAX; o < Math.min(first.count, max); o += PAGE_MAX) offsets.push(o);
  const rest = await Promise.all(
    offsets.map((offset) => entityPage(type, { ...params, limit: PAGE_MAX, offset }, signal)),
  );
  return first.entities.concat(...rest.map((p) => p.entities)).slice(0, max);
}

/** One entity (keyValues), or null when it does not exist. */
export async function entity(id: string, type: string): Promise<Entity | null> {
  const r = await fetch(`${NGSI}/entities/${encodeURIComponent(id)}?options=keyValues`, {
    headers: headers(type),
  });
  if (r.status === 404) return null;
  return (await check(r).then((x) => x.json())) as Entity;
}

export async function temporal(
  id: string, type: string, params: Record<string, string>,
): Promise<Record<string, unknown>> {
  const url = `${NGSI}/temporal/entities/${encodeURIComponent(id)}?${query(params)}`;
  return (await (await check(await fetch(url, { headers: headers(type) }))).json()) as Record<
    string,
    unknown
  >;
}

export async function forecasts(id: string, type: string): Promise<Record<string, unknown>[]> {
  const url = `/cityfabric/v1/forecasts?${query({ entity: id })}`;
  const r = await check(await fetch(url, { headers: headers(type) }));
  return (await r.json()) as Record<string, unknown>[];
}

/** Merge attributes into an entity (PATCH, NGSI-LD merge). */
export async function mergeAttrs(id: string, type: string, attrs: Record<string, unknown>): Promise<void> {
  await check(
    await fetch(`${NGSI}/entities/${encodeURIComponent(id)}`, {
      method: "PATCH",
      headers: headers(type, { "Content-Type": "application/json" }),
      body: JSON.stringify(attrs),
    }),
  );
}

export async function tenants(): Promise<string[]> {
  const r = await check(await fetch("/cityfabric/v1/tenants", { headers: { Accept: "application/json" } }));
  return ((await r.json()) as { tenants: string[] }).tenants;
}

export interface UiConfig {
  tileUrl: string | null;
}

export async function uiConfig(): Promise<UiConfig> {
  const r = await check(await fetch("/cityfabric/v1/ui/config"));
  return (await r.json()) as UiConfig;
}

/**
 * The id of this tenant's dashboard subscription to Alert and Anomaly, created when missing.
 * Its endpoint is the dashboard's notification sink; the dashboard reads its event stream.
 */
export async function alertSubscription(): Promise<string> {
  const id = "urn:ngsi-ld:Subscription:cityfabric-dashboard-alerts";
  const existing = await fetch(`${NGSI}/subscriptions/${encodeURIComponent(id)}`, {
    headers: headers("Alert"),
  });
  if (existing.ok) return id;
  const r = await fetch(`${NGSI}/subscriptions`, {
    method: "POST",
    headers: headers("Alert", { "Content-Type": "application/json" }),
    body: JSON.stringify({
      id,
      type: "Subscription",
      description: "the dashboard's live alerts (read from its event stream)",
      entities: [{ type: "Alert" }, { type: "Anomaly" }],
      notification: {
        format: "keyValues",
        endpoint: { uri: `${location.origin}/cityfabric/v1/ui/notifications` },
      },
    }),
  });
  if (r.status !== 409) await check(r); // 409: another dashboard created it meanwhile
  return id;
}

/** Read a subscription's event stream, calling `onData` with each notification's entities. */
export async function streamNotifications(
  subscription: string, onData: (entities: Entity[]) => void, signal: AbortSignal,
  onOpen: () => void = () => {},
): Promise<void> {
  const url = `/cityfabric/v1/subscriptions/${encodeURIComponent(subscription)}/events`;
  const r = await check(await fetch(url, { headers: headers(undefined, { Accept: "text/event-stream" }), signal }));
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let opened = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    if (!opened && buffer.includes(": listening")) {
      opened = true;
      onOpen();
    }
    const parsed = parseEvents(buffer);
    buffer = parsed.rest;
    for (const data of parsed.data) {
      const note = JSON.parse(data) as { data?: Entity[] };
      onData(note.data ?? []);
    }
  }
}
