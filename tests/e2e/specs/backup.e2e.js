import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, createNamed, psql, saveConnection, psqlEnv, screenshot, sidebarItem, testDatabaseUrl, typeInto,
} from './helpers.js';

const DATABASE = `e2e_shop_${process.pid}`;

/**
 * Holds a lock pg_dump has to wait for, so the test sees the backup while it runs, then lets
 * it go. Resolves once psql reports the lock taken.
 */
function holdDumpLock(database) {
  const session = spawn('psql', ['-v', 'ON_ERROR_STOP=1', '-d', database], { env: psqlEnv() });
  const locked = new Promise((resolve, reject) => {
    session.stdout.on('data', (chunk) => {
      if (chunk.toString().includes('LOCK TABLE')) resolve();
    });
    session.on('exit', () => reject(new Error('psql exited before taking the lock')));
  });
  session.stdin.write('BEGIN;\nLOCK TABLE shop_order IN ACCESS EXCLUSIVE MODE;\n');
  return {
    locked,
    release() {
      session.stdin.end('ROLLBACK;\n');
    },
  };
}

describe('Backups', () => {
  let mediaDir;

  before(() => {
    psql('postgres', `CREATE DATABASE ${DATABASE}`);
    psql(
      DATABASE,
      `CREATE TABLE shop_order (id serial PRIMARY KEY, total numeric NOT NULL);
       INSERT INTO shop_order (total) SELECT g FROM generate_series(1, 2000) g;`,
    );
    mediaDir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-media-'));
    mkdirSync(path.join(mediaDir, 'uploads'));
    writeFileSync(path.join(mediaDir, 'uploads', 'a.txt'), 'hello');
    writeFileSync(path.join(mediaDir, 'uploads', 'b.bin'), Buffer.alloc(50_000, 7));
  });

  after(() => {
    psql('postgres', `DROP DATABASE IF EXISTS ${DATABASE}`);
  });

  it('creates a both-backup with a note, shows it running, then lists it with its sizes', async () => {
    await createNamed('empty-create-application', 'shop');
    await (await sidebarItem('app-item', 'shop')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();

    await typeInto('database-url-input', testDatabaseUrl().replace('/postgres?', `/${DATABASE}?`));
    await click('fill-from-url');
    await saveConnection();
    await typeInto('media-dir-input', mediaDir);
    await click('save-media');
    await expect(byTestId('media-stats')).toHaveText(expect.stringContaining('2 files'));

    const lock = holdDumpLock(DATABASE);
    await lock.locked;
    await click('create-backup');
    await typeInto('backup-note', 'before the 2.0 deploy');
    await click('backup-submit');

    const progress = await byTestId('backup-progress');
    await progress.waitForDisplayed();
    await expect(byTestId('backup-cancel')).toBeDisplayed();
    await screenshot('backup-running');
    lock.release();

    const row = await $('[data-testid="backup-row"][data-status="succeeded"]');
    await row.waitForDisplayed({ timeout: 60_000 });
    await byTestId('save-key-dialog').waitForDisplayed();
    await screenshot('save-key-prompt');
    await answerKeyPromptLater();
    await expect(row.$('[data-testid="backup-row-note"]')).toHaveText('before the 2.0 deploy');
    const what = await row.$('[data-testid="backup-row-what"]').getText();
    expect(what).toContain('Database');
    expect(what).toContain('in 2 files');
    expect(what).toMatch(/Stored \d/);
    await expect(byTestId('running-job')).not.toBeDisplayed();

    await row.click();
    await expect(byTestId('backup-details')).toBeDisplayed();
    await click('verify-backup');
    const verification = await byTestId('verification');
    await browser.waitUntil(async () => (await verification.getText()).includes('media checksums'), {
      timeoutMsg: 'the verification result never showed',
    });
    expect(await verification.getText()).toContain('database contents');
    await $('[data-testid="verified-badge"]').waitForExist();
    await expect(verification).toHaveText(expect.stringContaining('All 6 checks passed'));
    await screenshot('backup-details');
  });
});
