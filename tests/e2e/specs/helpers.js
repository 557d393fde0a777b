import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { artifacts } from '../wdio.conf.js';

export const byTestId = (id) => $(`[data-testid="${id}"]`);

export function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the e2e tests through scripts/test`);
  return value;
}

/** The throwaway cluster scripts/test started, as a DATABASE_URL. */
export function testDatabaseUrl() {
  const password = encodeURIComponent(env('LIFEBOAT_TEST_PG_PASSWORD'));
  return `postgres://${env('LIFEBOAT_TEST_PG_USER')}:${password}@${env('LIFEBOAT_TEST_PG_HOST')}:${env('LIFEBOAT_TEST_PG_PORT')}/postgres?sslmode=disable`;
}

export async function typeInto(testId, text) {
  const input = await byTestId(testId);
  await input.waitForDisplayed();
  // WebKit's driver does not scroll a field inside a scrolled dialog into view by itself.
  await input.scrollIntoView({ block: 'center' });
  await input.setValue(text);
}

export async function click(testId) {
  const el = await byTestId(testId);
  await el.waitForDisplayed();
  await el.scrollIntoView({ block: 'center' });
  await el.waitForClickable();
  await el.click();
}

/** Closes a modal or drawer with its close button and waits until it is gone. */
export async function closeDialog(testId) {
  const close = await $(`[data-testid="${testId}"] [aria-label="Close"]`);
  await close.waitForClickable();
  await close.click();
  await byTestId(testId).waitForExist({ reverse: true, timeoutMsg: `${testId} stayed open` });
}

/** The sidebar item of the given kind (`app-item`, `env-item`) whose text is `name`. */
export async function sidebarItem(kind, name) {
  const item = await $(`//*[@data-testid="${kind}"][normalize-space(.)="${name}"]`);
  await item.waitForDisplayed({ timeoutMsg: `no ${kind} named ${name} in the sidebar` });
  return item;
}

/** Saves the connection form and waits for the save to land (the steps after it use it). */
export async function saveConnection() {
  await click('save-connection');
  const password = await byTestId('pg-password');
  await browser.waitUntil(async () => ((await password.getAttribute('placeholder')) ?? '').includes('saved'), {
    timeoutMsg: 'the connection was never saved',
  });
}

/** The first backup of a catalog asks to save the recovery key: answers "Later". */
export async function answerKeyPromptLater() {
  const dialog = await byTestId('save-key-dialog');
  await dialog.waitForDisplayed({ timeoutMsg: 'the first backup did not ask to save the recovery key' });
  await click('save-key-later');
  await dialog.waitForExist({ reverse: true, timeoutMsg: 'the recovery key prompt stayed open' });
}

export async function createNamed(openButton, name) {
  await click(openButton);
  await typeInto('name-input', name);
  await click('name-submit');
}

export async function screenshot(name) {
  await browser.saveScreenshot(path.join(artifacts, `${name}.png`));
}

export function psqlEnv() {
  return {
    ...process.env,
    PGHOST: env('LIFEBOAT_TEST_PG_HOST'),
    PGPORT: env('LIFEBOAT_TEST_PG_PORT'),
    PGUSER: env('LIFEBOAT_TEST_PG_USER'),
    PGPASSWORD: env('LIFEBOAT_TEST_PG_PASSWORD'),
  };
}

/** Runs SQL against the test cluster; returns what psql printed (unaligned, tuples only). */
export function psql(database, sql) {
  return execFileSync('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-q', '-t', '-A', '-d', database, '-c', sql], {
    env: psqlEnv(),
  })
    .toString()
    .trim();
}

/**
 * Waits for a desktop notification whose title starts with `title` to be sent in the test's
 * D-Bus session (scripts/lib/with-notifications records them); returns what was recorded.
 */
export async function waitForNotification(title) {
  const log = env('LIFEBOAT_TEST_NOTIFICATIONS');
  let recorded = '';
  await browser.waitUntil(() => {
    recorded = readFileSync(log, 'utf8');
    return recorded.includes(`string "${title}`);
  }, { timeout: 30_000, timeoutMsg: `no notification titled "${title}…" was sent` });
  return recorded;
}

/**
 * Waits for a toast, then for every toast to time out, so none covers a button the test clicks
 * next. The pointer is moved away first: a toast under the pointer never times out. (Clicking
 * their close buttons instead raced their animations and could crash the WebKit driver.)
 */
export async function waitOutToasts() {
  await $('[data-sonner-toast]').waitForDisplayed({ timeoutMsg: 'no toast appeared' });
  await browser.action('pointer').move({ x: 5, y: 5, origin: 'viewport' }).perform();
  await $('[data-sonner-toast]').waitForExist({ reverse: true, timeout: 20_000, timeoutMsg: 'the toasts stayed' });
}
