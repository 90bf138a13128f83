/**
 * Headless Chromium for the browser tests: Debian's package (installed by .ci/run), driven by
 * playwright-core. Screenshots go to $LORAPROF_SCREENSHOTS (CI keeps that folder as an artefact),
 * by default test-artifacts/screenshots in the checkout (git-ignored).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { repoRoot } from "./helpers.js";

export const CHROMIUM = "/usr/bin/chromium";
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export const screenshotDir =
  process.env["LORAPROF_SCREENSHOTS"] ?? join(repoRoot, "test-artifacts", "screenshots");

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package`);
  mkdirSync(screenshotDir, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}
