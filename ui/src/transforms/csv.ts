// Entities -> CSV (RFC 4180): one row per entity, one column per attribute.

import type { Entity } from "./entity";
import { scalar } from "./entity";

/** id, type, then every other attribute in first-seen order. */
export function columnsOf(rows: Entity[]): string[] {
  const seen = new Set<string>(["id", "type"]);
  for (const row of rows) for (const k of Object.keys(row)) seen.add(k);
  return [...seen];
}

function cell(value: unknown): string {
  const v = scalar(value);
  if (v === null) return "";
  let text = String(v);
  // a spreadsheet would run text starting with these as a formula
  if (typeof v === "string" && /^[=+@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The CSV text of the rows, with a header line; lines end with CRLF. */
export function toCsv(rows: Entity[], columns: string[] = columnsOf(rows)): string {
  const lines = [columns.map(cell).join(",")];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(","));
  return lines.join("\r\n") + "\r\n";
}
