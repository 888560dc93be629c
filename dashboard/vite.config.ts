/// <reference types="vitest/config" />
// The dashboard's build, dev server and unit-test configuration.
//
// `npm run dev` proxies the gateway's paths to AGENTOS_URL (default
// http://127.0.0.1:8000); `vite build --outDir <dir>` stays usable by the
// Rust build, which embeds the output and serves it at `/`.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const gateway = process.env.AGENTOS_URL ?? "http://127.0.0.1:8000";
const proxied = ["/api", "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"];

export default defineConfig({
  base: "/",
  plugins: [react()],
  build: { outDir: "dist", sourcemap: false },
  server: {
    proxy: Object.fromEntries(proxied.map((path) => [path, { target: gateway, changeOrigin: true }])),
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
    restoreMocks: true,
  },
});
