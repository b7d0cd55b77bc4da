// Server-sent events parsing (the subset the broker sends: `data:` lines and comments).

export interface Parsed {
  data: string[]; // the data of each complete event
  rest: string; // an incomplete event, to prepend to the next chunk
}

/** The complete events in `buffer`; comments (`:` lines) are skipped. */
export function parseEvents(buffer: string): Parsed {
  const normal = buffer.replace(/\r\n?/g, "\n");
  const blocks = normal.split("\n\n");
  const rest = blocks.pop() ?? "";
  const data: string[] = [];
  for (const block of blocks) {
    const lines = block
      .split("\n")
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).replace(/^ /, ""));
    if (lines.length) data.push(lines.join("\n"));
  }
  return { data, rest };
}
