import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, createNamed, psql, saveConnection, screenshot, sidebarItem, testDatabaseUrl, typeInto,
} from './helpers.js';

const PRODUCTION = `e2e_prod_${process.pid}`;
const STAGING = `e2e_staging_${process.pid}`;

function mediaTree(content) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-media-'));
  mkdirSync(path.join(dir, 'uploads'));
  writeFileSync(path.join(dir, 'uploads', 'a.txt'), content);
  return dir;
}

async function configureEnvironment(name, database, mediaDir) {
  await createNamed('add-environment', name);
  await (await sidebarItem('env-item', name)).click();
  await typeInto('database-url-input', testDatabaseUrl().replace('/postgres?', `/${database}?`));
  await click('fill-from-url');
  await saveConnection();
  await typeInto('media-dir-input', mediaDir);
  await click('save-media');
  await expect(byTestId('media-stats')).toHaveText(expect.stringContaining('1 file'));
  // Saved before the next step leaves the page (unsaved edits would ask first).
  await $('[data-testid="media-section"] [data-testid="unsaved-badge"]').waitForExist({ reverse: true });
}

async function choose(selectTestId, label) {
  await click(selectTestId);
  const option = await $(
    `//*[@data-testid="${selectTestId}-option"][starts-with(normalize-space(.), "${label}")]`,
  );
  await option.waitForClickable({ timeoutMsg: `no clickable option ${label} in ${selectTestId}` });
  await option.click();
}

describe('Restore', () => {
  let productionMedia;
  let stagingMedia;

  before(() => {
    for (const db of [PRODUCTION, STAGING]) psql('postgres', `CREATE DATABASE ${db}`);
    psql(
      PRODUCTION,
      `CREATE EXTENSION pgcrypto;
       CREATE TABLE shop_order (id serial PRIMARY KEY, total numeric NOT NULL, token uuid DEFAULT gen_random_uuid());
       INSERT INTO shop_order (total) SELECT g FROM generate_series(1, 1500) g;`,
    );
    psql(STAGING, `CREATE EXTENSION pgcrypto; CREATE TABLE shop_order (id int); INSERT INTO shop_order VALUES (1);`);
    productionMedia = mediaTree('production');
    stagingMedia = mediaTree('staging');
  });

  after(() => {
    for (const db of [PRODUCTION, STAGING]) psql('postgres', `DROP DATABASE IF EXISTS ${db}`);
  });

  it("restores production's backup into staging after the typed confirmation", async () => {
    await createNamed('empty-create-application', 'shop');
    await (await sidebarItem('app-item', 'shop')).click();
    await configureEnvironment('staging', STAGING, stagingMedia);
    await (await sidebarItem('app-item', 'shop')).click();
    await configureEnvironment('production', PRODUCTION, productionMedia);

    await click('create-backup');
    await click('backup-submit');
    const row = await $('[data-testid="backup-row"][data-status="succeeded"]');
    await row.waitForDisplayed({ timeout: 60_000 });
    await answerKeyPromptLater();
    await row.click();
    await click('restore-backup');

    await choose('restore-environment', 'staging');
    await expect(byTestId('restore-overwritten')).toHaveText(expect.stringContaining('shop / staging'));
    // Staging already has the extension: it is kept, the table is recreated.
    await expect(byTestId('restore-plan-recreated')).toHaveText(expect.stringContaining('1 table'));
    await expect(byTestId('restore-plan-kept')).toHaveText(
      expect.stringContaining('extension pgcrypto — already installed, owned by postgres'),
    );
    const submit = await byTestId('restore-submit');
    await expect(byTestId('restore-confirmation')).toBeDisplayed();
    await expect(submit).toBeDisabled();
    await typeInto('restore-confirmation', 'production');
    await expect(submit).toBeDisabled();
    await typeInto('restore-confirmation', 'staging');
    await expect(submit).toBeEnabled();
    await screenshot('restore-dialog');
    await click('restore-submit');

    const summary = await byTestId('restore-summary');
    await summary.waitForDisplayed({ timeout: 60_000 });
    const safety = await byTestId('restore-safety-backup-id');
    await expect(safety).toHaveText(expect.stringMatching(/\d{8}T\d{6}Z-/));
    await screenshot('restore-summary');

    expect(psql(STAGING, 'SELECT count(*) FROM shop_order')).toBe('1500');
    expect(psql(PRODUCTION, 'SELECT count(*) FROM shop_order')).toBe('1500');
  });
});
