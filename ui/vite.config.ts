// The dashboard builds into the Python package, which serves it at / (api/ui.py).
import { defineConfig } from "vitest/config";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../src/cityfabric/ui_dist",
    emptyOutDir: true,
    assetsDir: "ui",
    chunkSizeWarningLimit: 2000,
  },
  worker: { format: "es" },
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
