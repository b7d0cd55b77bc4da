import { describe, expect, it } from "vitest";
import { columnsOf, toCsv } from "../src/transforms/csv";

describe("toCsv", () => {
  it("writes a header of every attribute and quotes per RFC 4180", () => {
    const rows = [
      { id: "urn:a", type: "Building", name: 'Block "A", east', floors: 3 },
      { id: "urn:b", type: "Building", note: "line1\nline2", dateInstalled: { "@type": "DateTime", "@value": "2020-01-01T00:00:00Z" } },
    ];
    expect(columnsOf(rows)).toEqual(["id", "type", "name", "floors", "note", "dateInstalled"]);
    expect(toCsv(rows)).toBe(
      "id,type,name,floors,note,dateInstalled\r\n" +
        'urn:a,Building,"Block ""A"", east",3,,\r\n' +
        'urn:b,Building,,,"line1\nline2",2020-01-01T00:00:00Z\r\n',
    );
  });

  it("defuses spreadsheet formulas and writes objects as JSON", () => {
    const csv = toCsv([{ id: "x", type: "T", f: "=1+1", cat: ["a", "b"] }], ["id", "f", "cat"]);
    expect(csv).toBe('id,f,cat\r\nx,\'=1+1,"[""a"",""b""]"\r\n');
  });
});
