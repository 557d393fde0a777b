import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from '@wdio/globals';
import {
  answerKeyPromptLater, byTestId, click, createNamed, env, screenshot, sidebarItem, typeInto, waitOutToasts,
} from './helpers.js';

const DATABASE = `e2e_behind_${process.pid}`;

/**
 * SQL on the cluster behind the harness's SSH server, as the SSH user (the only one it lets in):
 * the test's own way in, to set up and check; the app must go through SSH.
 */
function behind(database, sql) {
  const psql = ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-q', '-t', '-A', '-h', env('LIFEBOAT_TEST_SSH_PG_SOCKET_DIR'),
    '-p', env('LIFEBOAT_TEST_SSH_PG_PORT'), '-U', 'postgres', '-d', database, '-c', sql];
  const [command, ...args] = process.getuid() === 0 ? ['runuser', '-u', env('LIFEBOAT_TEST_SSH_USER'), '--', ...psql] : psql;
  return execFileSync(command, args).toString().trim();
}

describe('An environment behind SSH', () => {
  let sshConfig;

  before(() => {
    behind('postgres', `CREATE DATABASE ${DATABASE}`);
    behind(DATABASE, `CREATE TABLE shop_order (id serial PRIMARY KEY, total numeric NOT NULL);
                      INSERT INTO shop_order (total) SELECT g FROM generate_series(1, 700) g;`);
    // The user's SSH configuration, as Settings names it: an alias with its key.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lifeboat-e2e-ssh-'));
    sshConfig = path.join(dir, 'config');
    writeFileSync(sshConfig, [
      'Host lifeboat-test-server',
      '  HostName 127.0.0.1',
      `  Port ${env('LIFEBOAT_TEST_SSH_PORT')}`,
      `  User ${env('LIFEBOAT_TEST_SSH_USER')}`,
      `  IdentityFile ${env('LIFEBOAT_TEST_SSH_KEY')}`,
      '  IdentitiesOnly yes',
      '',
    ].join('\n'));
  });

  after(() => behind('postgres', `DROP DATABASE IF EXISTS ${DATABASE}`));

  it('trusts the server after showing its fingerprint, then backs up and restores through it', async () => {
    await click('nav-settings');
    await typeInto('settings-ssh-config', sshConfig);
    await click('save-settings');
    await waitOutToasts();

    await createNamed('add-application', 'shop');
    await (await sidebarItem('app-item', 'shop')).click();
    await createNamed('add-environment', 'production');
    await (await sidebarItem('env-item', 'production')).click();

    await typeInto('server-input', 'lifeboat-test-server');
    await click('save-server');
    const dialog = await byTestId('confirm-dialog');
    await dialog.waitForDisplayed({ timeoutMsg: 'no host key confirmation was shown' });
    const expected = execFileSync('ssh-keygen', ['-lf', env('LIFEBOAT_TEST_SSH_HOST_KEY')]).toString().split(/\s+/)[1];
    await expect(byTestId('host-key-fingerprint')).toHaveText(expected);
    await screenshot('ssh-host-key');
    await click('confirm-delete');
    await byTestId('server-trusted').waitForDisplayed({ timeoutMsg: 'the key was not trusted' });
    await waitOutToasts();

    // As the server sees it: its socket directory; the test goes through SSH before saving.
    const url = `postgres://postgres@/${DATABASE}?host=${env('LIFEBOAT_TEST_SSH_PG_SOCKET_DIR')}&port=${env('LIFEBOAT_TEST_SSH_PG_PORT')}`;
    await typeInto('database-url-input', url);
    await click('fill-from-url');
    await click('save-connection');
    await expect(byTestId('connection-through')).toHaveText(expect.stringContaining('lifeboat-test-server'));
    await $('[data-testid="database-section"] [data-testid="unsaved-badge"]').waitForExist({ reverse: true });
    await screenshot('ssh-connection');

    await click('create-backup');
    await click('backup-submit');
    const row = await $('[data-testid="backup-row"][data-status="succeeded"]');
    await row.waitForDisplayed({ timeout: 60_000 });
    await answerKeyPromptLater();

    behind(DATABASE, 'DELETE FROM shop_order WHERE id > 100');
    await row.click();
    await click('restore-backup');
    await typeInto('restore-confirmation', 'production');
    await click('restore-submit');
    await byTestId('restore-summary').waitForDisplayed({ timeout: 60_000 });
    expect(behind(DATABASE, 'SELECT count(*) FROM shop_order')).toBe('700');
  });
});
