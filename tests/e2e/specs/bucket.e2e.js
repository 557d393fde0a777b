import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, createNamed, env, screenshot, sidebarItem, typeInto, waitOutToasts,
} from './helpers.js';
import { deleteObject, objectsUnder, putObject } from './s3.js';

const PREFIX = `e2e-media-${process.pid}`;
const SEEDED = {
  'docs/read me.pdf': { body: '%PDF-1.4 tiny', contentType: 'application/pdf' },
  'uploads/a.txt': { body: 'first upload', contentType: 'text/plain' },
  'uploads/photo.png': { body: 'not really a png', contentType: 'image/png' },
};

describe('Media in an S3 bucket', () => {
  before(async () => {
    for (const [key, { body, contentType }] of Object.entries(SEEDED)) {
      await putObject(`${PREFIX}/${key}`, body, contentType);
    }
  });

  it('is set up, tested, backed up and put back through the window', async () => {
    await createNamed('add-application', 'shop');
    await (await sidebarItem('app-item', 'shop')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();

    await click('media-kind-bucket');
    await typeInto('media-bucket-name', env('LIFEBOAT_TEST_S3_BUCKET'));
    await typeInto('media-bucket-prefix', PREFIX);
    await typeInto('media-bucket-endpoint', env('LIFEBOAT_TEST_S3_ENDPOINT'));
    await typeInto('media-bucket-region', env('LIFEBOAT_TEST_S3_REGION'));
    await typeInto('media-bucket-access-key-id', env('LIFEBOAT_TEST_S3_ACCESS_KEY_ID'));
    await typeInto('media-bucket-secret', env('LIFEBOAT_TEST_S3_SECRET_ACCESS_KEY'));
    await click('save-media-bucket');
    await expect(byTestId('media-bucket-stats')).toHaveText(expect.stringContaining('3 objects'));
    await waitOutToasts();

    await click('test-media-bucket');
    await browser.waitUntil(async () => (await $$('[data-testid="media-bucket-check"][data-ok="true"]')).length === 3, {
      timeoutMsg: 'listing, reading and writing were not all allowed',
    });
    await byTestId('media-bucket-stats').waitForDisplayed({ timeoutMsg: 'the test never finished' });
    await screenshot('media-bucket');

    await click('create-backup');
    await click('backup-submit');
    const row = await $('[data-testid="backup-row"][data-status="succeeded"]');
    await row.waitForDisplayed({ timeout: 60_000 });
    await answerKeyPromptLater();

    // Someone deletes one upload, overwrites another and adds a stray.
    await deleteObject(`${PREFIX}/uploads/a.txt`);
    await putObject(`${PREFIX}/uploads/photo.png`, 'overwritten', 'text/plain');
    await putObject(`${PREFIX}/uploads/stray.txt`, 'not in the backup', 'text/plain');

    await row.click();
    await click('restore-backup');
    await typeInto('restore-confirmation', 'production');
    await click('restore-submit');
    await byTestId('restore-summary').waitForDisplayed({ timeout: 60_000 });
    await expect(byTestId('restore-bucket-changes')).toHaveText(expect.stringContaining('2 objects written, 1 object not in the backup deleted'));
    await screenshot('media-bucket-restored');

    const now = await objectsUnder(PREFIX);
    expect(now).toEqual(SEEDED);
  });
});
