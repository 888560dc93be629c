/**
 * Starts `agentos demo` (AGENTOS_BIN) on a free port with a fresh SQLite
 * database, reads its CEO token, waits for /healthz and checks the
 * dashboard's page the gateway serves at `/` (the app embedded in the binary).
 * Hands `{ baseURL, gateway, token }` to the tests in e2e/.state/demo.json;
 * the returned teardown stops the demo.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const STATE_FILE = join(here, ".state", "demo.json");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The CEO token the demo prints, once it has. */
function waitForToken(demo: ChildProcess, output: { text: string }, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no "CEO token:" line within ${ms / 1000} s:\n${output.text}`)), ms);
    const check = () => {
      const match = /CEO token:\s*(agt_[0-9a-f]{64})/.exec(output.text);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    demo.stdout?.on("data", check);
    demo.stderr?.on("data", check);
    demo.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited (code ${code}) before printing its token:\n${output.text}`));
    });
  });
}

async function waitForHealth(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last = "";
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`${url}/healthz`);
      if (response.ok) return;
      last = `${response.status}`;
    } catch (error) {
      last = String(error);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url}/healthz did not answer 200 within ${ms / 1000} s (last: ${last})`);
}

/** Whether the gateway already serves this dashboard at `/`. */
async function servesDashboard(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/`);
    return response.ok && (await response.text()).includes('<div id="root">');
  } catch {
    return false;
  }
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  const bin = process.env.AGENTOS_BIN;
  if (!bin) throw new Error("AGENTOS_BIN is not set: point it at the agentos binary, e.g. AGENTOS_BIN=$HOME/.cache/agentos/target/debug/agentos npm run e2e");
  if (!existsSync(bin)) throw new Error(`AGENTOS_BIN=${bin} does not exist: build the agentos binary first`);
  const chromium = process.env.CHROMIUM ?? "/usr/bin/chromium";
  if (!existsSync(chromium)) throw new Error(`no Chromium at ${chromium}: install Debian's chromium or set CHROMIUM`);

  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "agentos-e2e-"));
  const gateway = `http://127.0.0.1:${port}`;
  const output = { text: "" };
  const demo = spawn(bin, ["demo", "--listen", `127.0.0.1:${port}`, "--database-url", `sqlite://${dir}/demo.db`], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  demo.stdout?.on("data", (chunk: Buffer) => (output.text += chunk.toString()));
  demo.stderr?.on("data", (chunk: Buffer) => (output.text += chunk.toString()));

  const teardown = async () => {
    if (demo.exitCode === null) {
      demo.kill("SIGINT");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          demo.kill("SIGKILL");
          resolve();
        }, 5000);
        demo.on("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const token = await waitForToken(demo, output, 60_000);
    await waitForHealth(gateway, 30_000);
    // The dashboard under test is the one the binary embeds, as a user gets it.
    if (!(await servesDashboard(gateway))) {
      const page = await fetch(`${gateway}/`).then((r) => r.text()).catch(String);
      throw new Error(`the demo at ${gateway} does not serve the dashboard at /; rebuild the binary with npm available:\n${page}`);
    }
    const baseURL = gateway;
    mkdirSync(dirname(STATE_FILE), { recursive: true });
    writeFileSync(STATE_FILE, JSON.stringify({ baseURL, gateway, token }, null, 2));
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
