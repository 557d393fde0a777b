import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, closeDialog, createNamed, psql, saveConnection, screenshot, sidebarItem, testDatabaseUrl, typeInto, waitForNotification,
} from './helpers.js';

const DATABASE = `e2e_download_${process.pid}`;

describe('Prepare download', () => {
  before(() => {
    psql('postgres', `CREATE DATABASE ${DATABASE}`);
    psql(DATABASE, 'CREATE TABLE note (id int); INSERT INTO note SELECT generate_series(1, 100);');
  });

  after(() => {
    psql('postgres', `DROP DATABASE IF EXISTS ${DATABASE}`);
  });

  it('prepares a backup for download and lists it as ready', async () => {
    await createNamed('empty-create-application', 'blog');
    await (await sidebarItem('app-item', 'blog')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();
    await typeInto('database-url-input', testDatabaseUrl().replace('/postgres?', `/${DATABASE}?`));
    await click('fill-from-url');
    await saveConnection();
    await click('create-backup');
    await click('backup-submit');
    const row = await $('[data-testid="backup-row"][data-status="succeeded"]');
    await row.waitForDisplayed({ timeout: 60_000 });
    await answerKeyPromptLater();
    await row.click();

    await click('prepare-download');
    // The app's folder dialog answers with the folder wdio.conf.js gave it (LIFEBOAT_E2E_DOWNLOAD_DIR).
    const folder = process.env.LIFEBOAT_E2E_DOWNLOAD_DIR;
    await click('download-choose-folder');
    await click('download-submit');

    await byTestId('download-dialog').waitForExist({ reverse: true, timeoutMsg: 'the download dialog stayed open' });
    await closeDialog('backup-details'); // the drawer covers the sidebar
    await click('nav-downloads');
    const ready = await $('[data-testid="download-row"][data-status="succeeded"]');
    await ready.waitForDisplayed({ timeout: 60_000 });
    await expect(ready.$('[data-testid="download-show"]')).toBeDisplayed();
    await screenshot('downloads');
    const notified = await waitForNotification('Download ready: blog / production backup of');
    expect(notified).toContain(`string "Written to ${folder}"`);

    // The dump, the server's roles beside it, and their checksums.
    const files = readdirSync(folder).sort();
    expect(files).toHaveLength(3);
    expect(files[0]).toBe('SHA256SUMS');
    expect(files[1]).toMatch(/^blog-production-\d{8}T\d{6}Z-roles\.sql$/);
    expect(files[2]).toMatch(/^blog-production-\d{8}T\d{6}Z\.dump$/);
    expect(statSync(path.join(folder, files[2])).mode & 0o777).toBe(0o600);
    execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: folder });
  });
});
