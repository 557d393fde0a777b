import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, closeDialog, createNamed, waitOutToasts, psql, saveConnection, screenshot, sidebarItem, testDatabaseUrl, typeInto,
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
  if (count === 1) await answerKeyPromptLater();
}

describe('Retention and schedules', () => {
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
    await expect(byTestId('save-retention')).toBeDisabled();
    await waitOutToasts(); // they cover Prune now
    await click('prune-now');
    // The confirmation lists what the saved policy deletes: the older backup.
    await browser.waitUntil(async () => (await $$('[data-testid="prune-confirm-delete"]')).length === 1, {
      timeoutMsg: 'the confirmation does not list the one backup the saved policy deletes',
    });
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

  it('sets a schedule, shows its next run, and the overview has the environment on time', async () => {
    await click('schedule-enabled');
    await typeInto('schedule-time', '04:30');
    await expect(byTestId('schedule-next-run')).toHaveText(expect.stringContaining('04:30'));
    await click('save-schedule');
    await expect(byTestId('save-schedule')).toBeDisabled();

    await click('nav-overview');
    const row = $('[data-testid="overview-row"]');
    await expect(row).toHaveAttribute('data-punctuality', 'onTime');
    await expect(row.$('[data-testid="overview-next-run"]')).toHaveText(expect.stringContaining('04:30'));
  });

  it('runs a restore drill from the environment page and shows it restorable with its duration', async () => {
    await (await sidebarItem('env-item', 'production')).click();
    await expect(byTestId('drill-badge')).toHaveText('Never drilled');
    // Drills restore on a scratch server Lifeboat runs itself unless the environment says
    // otherwise; choosing its own server first says what that means.
    await expect(byTestId('drill-place')).toHaveAttribute('data-place', 'scratch');
    await expect(byTestId('drill-place-scratch')).toBeSelected();
    await click('drill-place-environmentServer');
    await expect(byTestId('drill-own-server-warning')).toHaveText(expect.stringContaining('full copy of the backup'));
    await click('drill-place-scratch');
    await expect(byTestId('drill-own-server-warning')).not.toBeDisplayed();
    await click('drill-weekly');
    await click('save-drill-schedule');
    await waitOutToasts();
    await click('run-drill');
    const status = byTestId('drill-status');
    await status.waitForExist();
    await browser.waitUntil(async () => (await status.getAttribute('data-state')) === 'passed', {
      timeout: 60_000,
      timeoutMsg: 'the drill never passed',
    });
    await expect(byTestId('drill-badge')).toHaveText('Restorable');
    await expect(byTestId('drill-duration')).toHaveText(expect.stringMatching(/^restore took \d/));
    await expect($$('[data-testid="drill-row"]')).toBeElementsArrayOfSize(1);
    await screenshot('drill');
  });
});
