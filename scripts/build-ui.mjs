// Builds the dashboard's front end (src/ui) into dist/ui: one minified ES module (Preact, ECharts'
// registered parts and the shared zod schemas), its stylesheet and the HTML shell. Run by
// `npm run build`; `loraprof ui` serves only this folder.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "ui");
mkdirSync(out, { recursive: true });
const result = await build({
  entryPoints: [join(root, "src/ui/main.tsx")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox110", "safari16"],
  minify: true,
  sourcemap: false,
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});
copyFileSync(join(root, "src/ui/index.html"), join(out, "index.html"));
copyFileSync(join(root, "src/ui/app.css"), join(out, "app.css"));
const bytes = Object.values(result.metafile.outputs).reduce((a, o) => a + o.bytes, 0);
if (process.argv.includes("--verbose")) console.log(`dist/ui/app.js: ${(bytes / 1024).toFixed(0)} KiB`);
