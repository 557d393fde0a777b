import { expect } from '@wdio/globals';
import {
  byTestId, click, closeDialog, createNamed, psql, saveConnection, sidebarItem, testDatabaseUrl, typeInto,
} from './helpers.js';

const DATABASE = `e2e_retention_${process.pid}`;
const SUCCEEDED = '[data-testid="backup-row"][data-status="succeeded"]';

async function backUp(count) {
  await click('create-backup');
  await click('backup-submit');
  await browser.waitUntil(async () => (await $$(SUCCEEDED)).length === count, {
    timeout: 60_000,
    timeoutMsg: `${count} backups never succeeded`,
  });
}

describe('Retention', () => {
  before(() => {
    psql('postgres', `CREATE DATABASE ${DATABASE}`);
    psql(DATABASE, 'CREATE TABLE page (id int); INSERT INTO page SELECT generate_series(1, 10);');
  });

  after(() => {
    psql('postgres', `DROP DATABASE IF EXISTS ${DATABASE}`);
  });

  it('previews what a policy deletes, prunes it, and pins a backup', async () => {
    await createNamed('empty-create-application', 'wiki');
    await (await sidebarItem('app-item', 'wiki')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();
    await typeInto('database-url-input', testDatabaseUrl().replace('/postgres?', `/${DATABASE}?`));
    await click('fill-from-url');
    await saveConnection();
    await backUp(1);
    await backUp(2);

    const deleted = byTestId('retention-deleted');
    await expect(deleted).toHaveText('0 backups');
    await typeInto('retention-on-demand-keep', '1');
    await typeInto('retention-on-demand-days', '0');
    await expect(deleted).toHaveText('1 backup');
    await expect($$('[data-testid="retention-preview-delete"]')).toBeElementsArrayOfSize(1);

    await click('save-retention');
    // Saved once the button has nothing left to save; its toast then covers Prune now for a
    // moment, which click() waits out.
    await expect(byTestId('save-retention')).toBeDisabled();
    await click('prune-now');
    await click('confirm-delete');
    await browser.waitUntil(async () => (await $$(SUCCEEDED)).length === 1, {
      timeoutMsg: 'the pruned backup is still listed',
    });
    await expect(deleted).toHaveText('0 backups');

    await $(SUCCEEDED).click();
    await click('toggle-pin');
    await expect(byTestId('backup-details-retention')).toHaveText('Pinned: kept forever');
    await closeDialog('backup-details');
    await expect($(`${SUCCEEDED} [data-testid="pinned-badge"]`)).toBeDisplayed();
  });
});
