/**
 * A server-sent events parser (the WHATWG event-stream format), fed text
 * chunks as they arrive, however they are cut. Pure apart from its buffer.
 */

/** One dispatched message. */
export interface SseMessage {
  /** The `event:` field, `message` by default. */
  event: string;
  /** The `data:` lines joined with newlines. */
  data: string;
  /** The last event id seen (persists across messages, as the spec says). */
  id: string | null;
  /** A `retry:` hint in milliseconds, if this message carried one. */
  retry?: number;
}

/** An incremental parser: `push` chunks, get the messages they complete. */
export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private event = "";
  private lastId: string | null = null;
  private retry: number | undefined;
  private sawField = false;

  /** The last event id seen, to send as `Last-Event-ID` on reconnect. */
  get lastEventId(): string | null {
    return this.lastId;
  }

  /** Parses a chunk, returning the messages completed by it. */
  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const messages: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (match[0] === "\r" && match.index === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const message = this.line(line);
      if (message) messages.push(message);
    }
    return messages;
  }

  private line(line: string): SseMessage | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "data":
        this.data.push(value);
        this.sawField = true;
        break;
      case "event":
        this.event = value;
        break;
      case "id":
        if (!value.includes("\0")) this.lastId = value;
        break;
      case "retry":
        if (/^\d+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
    return null;
  }

  private dispatch(): SseMessage | null {
    const message: SseMessage | null = this.sawField
      ? {
          event: this.event || "message",
          data: this.data.join("\n"),
          id: this.lastId,
          ...(this.retry !== undefined ? { retry: this.retry } : {}),
        }
      : null;
    this.data = [];
    this.event = "";
    this.retry = undefined;
    this.sawField = false;
    return message;
  }
}

/** Parses a whole event-stream text at once (for tests and small bodies). */
export function parseSse(text: string): SseMessage[] {
  return new SseParser().push(text);
}
