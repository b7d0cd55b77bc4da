// Entities as the dashboard reads them: NGSI-LD keyValues (simplified) form.

export interface Entity {
  id: string;
  type: string;
  [attr: string]: unknown;
}

/** A scalar for display: DateTime values unwrapped, relationships and lists as text. */
export function scalar(value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    return value;
  }
  if (typeof value === "object" && "@value" in value) {
    return String((value as { "@value": unknown })["@value"]);
  }
  return JSON.stringify(value);
}

/** Attribute names that hold relationships (their value is an entity id), by convention. */
export function relationships(entity: Entity): [string, string[]][] {
  const out: [string, string[]][] = [];
  for (const [name, value] of Object.entries(entity)) {
    if (name === "id" || name === "type") continue;
    const ids = (Array.isArray(value) ? value : [value]).filter(
      (v): v is string => typeof v === "string" && v.startsWith("urn:ngsi-ld:"),
    );
    if (ids.length > 0 && (name.startsWith("ref") || ids.length === (Array.isArray(value) ? value.length : 1))) {
      out.push([name, ids]);
    }
  }
  return out;
}
