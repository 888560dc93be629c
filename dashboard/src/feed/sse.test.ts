import { describe, expect, it } from "vitest";
import { SseParser, parseSse } from "./sse";

describe("SseParser", () => {
  it("dispatches a message with its id and data on a blank line", () => {
    expect(parseSse('id: 1042:0\ndata: {"a":1}\n\n')).toEqual([{ event: "message", data: '{"a":1}', id: "1042:0" }]);
  });

  it("joins several data lines with newlines and reads named events", () => {
    expect(parseSse("event: tick\ndata: one\ndata: two\n\n")).toEqual([{ event: "tick", data: "one\ntwo", id: null }]);
  });

  it("reassembles messages cut anywhere across chunks, CRLF included", () => {
    const text = 'id: 7:1\r\ndata: {"x":"y"}\r\n\r\nid: 7:2\r\ndata: second\r\n\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new SseParser();
      const messages = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
      expect(messages.map((m) => [m.id, m.data])).toEqual([
        ["7:1", '{"x":"y"}'],
        ["7:2", "second"],
      ]);
    }
  });

  it("ignores comments (keep-alives) and messages without data", () => {
    expect(parseSse(": keep-alive\n\nid: 3:0\n\n: retrying\n\n")).toEqual([]);
  });

  it("keeps the last id across messages and reports it for Last-Event-ID", () => {
    const parser = new SseParser();
    const messages = parser.push("id: 5:0\ndata: a\n\ndata: b\n\n");
    expect(messages.map((m) => m.id)).toEqual(["5:0", "5:0"]);
    expect(parser.lastEventId).toBe("5:0");
  });

  it("reads retry hints and a field without a colon", () => {
    expect(parseSse("retry: 2500\ndata\n\n")).toEqual([{ event: "message", data: "", id: null, retry: 2500 }]);
  });

  it("waits for the rest of a message that has not ended", () => {
    const parser = new SseParser();
    expect(parser.push("data: half")).toEqual([]);
    expect(parser.push("\n")).toEqual([]);
    expect(parser.push("\n")).toEqual([{ event: "message", data: "half", id: null }]);
  });
});
