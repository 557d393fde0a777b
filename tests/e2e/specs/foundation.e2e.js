import { expect } from '@wdio/globals';
import {
  byTestId, click, createNamed, env, screenshot, sidebarItem, testDatabaseUrl, typeInto,
} from './helpers.js';

describe('Lifeboat foundation', () => {
  it('starts on an empty state that says what to do first', async () => {
    const start = await byTestId('empty-create-application');
    await start.waitForDisplayed();
    await screenshot('empty-state');
  });

  it('creates an application and an environment, fills the connection from a DATABASE_URL and tests it', async () => {
    await createNamed('empty-create-application', 'shop');
    await (await sidebarItem('app-item', 'shop')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();

    await typeInto('database-url-input', testDatabaseUrl());
    await click('fill-from-url');
    await expect(byTestId('pg-host')).toHaveValue(env('LIFEBOAT_TEST_PG_HOST'));
    await expect(byTestId('pg-port')).toHaveValue(env('LIFEBOAT_TEST_PG_PORT'));
    await expect(byTestId('pg-database')).toHaveValue('postgres');

    await click('test-connection');
    const result = await byTestId('connection-result');
    await result.waitForDisplayed();
    const major = env('LIFEBOAT_TEST_PG_BIN').split('/').at(-2);
    await expect(result).toHaveText(expect.stringContaining(`${major}.`));

    await click('save-connection');
    await screenshot('main-window');
  });

  it('shows an inline error for a duplicate application name', async () => {
    await createNamed('add-application', 'SHOP');
    const error = await byTestId('field-error-name');
    await error.waitForDisplayed();
    await expect(error).toHaveText(expect.stringContaining('already exists'));
  });
});
