// Drives the built app (assets embedded) through tauri-driver, which wraps WebKitWebDriver.
// scripts/test runs this under Xvfb inside a D-Bus session with an unlocked GNOME Keyring.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const application =
  process.env.LIFEBOAT_APP_BINARY ?? path.resolve('../../target/debug/lifeboat-desktop');
export const artifacts = process.env.LIFEBOAT_E2E_ARTIFACTS ?? path.resolve('artifacts');
const DRIVER_PORT = 4444;
let driver;

function portOpen(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.end(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

async function waitForDriver() {
  for (let i = 0; i < 200; i++) {
    if (await portOpen(DRIVER_PORT)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`tauri-driver did not listen on port ${DRIVER_PORT}`);
}

export const config = {
  runner: 'local',
  specs: ['./specs/**/*.e2e.js'],
  maxInstances: 1,
  hostname: '127.0.0.1',
  port: DRIVER_PORT,
  capabilities: [
    {
      // WDIO 9 otherwise asks for WebDriver BiDi, which tauri-driver does not offer.
      'wdio:enforceWebDriverClassic': true,
      'tauri:options': { application },
    },
  ],
  logLevel: 'warn',
  framework: 'mocha',
  reporters: ['spec'],
  mochaOpts: { ui: 'bdd', timeout: 120_000 },
  waitforTimeout: 30_000,
  onPrepare() {
    mkdirSync(artifacts, { recursive: true });
  },
  async beforeSession() {
    // Every spec file starts the app on an empty catalog of its own.
    process.env.LIFEBOAT_HOME = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-'));
    // The native folder dialog cannot be driven over WebDriver: the app's documented test hook
    // (src-tauri/src/dialogs.rs) takes the download folder from its environment instead.
    process.env.LIFEBOAT_E2E_DOWNLOAD_DIR = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-download-'));
    driver = spawn('tauri-driver', ['--port', String(DRIVER_PORT)], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await waitForDriver();
  },
  async afterTest(test, _context, { passed }) {
    if (!passed) {
      const name = test.title.replace(/[^a-z0-9]+/gi, '-').slice(0, 80);
      await browser.saveScreenshot(path.join(artifacts, `failed-${name}.png`));
    }
  },
  afterSession() {
    driver?.kill();
  },
};
