// The extension end to end under plain Node: extension.js with a stand-in for the `vscode`
// module (../testSupport/vscodeStub) starts a stand-in server (../testSupport/fakeServer)
// through vscode-languageclient, found on PATH as `precedent`. Checks what the server receives
// (arguments, initializationOptions, settings) and what the writer sees (status bar, messages).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as vscode from '../testSupport/vscodeStub';
import { waitUntil } from '../testSupport/waitUntil';

type Extension = { activate(context: { subscriptions: unknown[] }): void; deactivate(): Promise<void> };
type Received = { method: string; params: unknown };

const root = path.join(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-client-'));
const recordFile = path.join(dir, 'received.jsonl');

function received(): Received[] {
  return fs.existsSync(recordFile)
    ? fs.readFileSync(recordFile, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Received)
    : [];
}

const waitFor = <T>(what: string, probe: () => T | undefined | false) =>
  waitUntil(what, probe, { explain: () => `server received: ${JSON.stringify(received())}; output: ${vscode.outputLines.join('\n')}` });

const statusText = () => vscode.statusBarItems[0]?.text;
const last = (method: string) => received().filter((m) => m.method === method).at(-1)?.params;
function changeSetting(key: string, value: unknown): void {
  vscode.userSettings.set(key, value);
  vscode.onDidChangeConfiguration.fire({ affectsConfiguration: (section) => key === section || key.startsWith(`${section}.`) });
}

describe('the extension with a stand-in server', { skip: process.platform === 'win32' && 'uses a shell script as the server' }, () => {
  let extension: Extension;

  before(() => {
    vscode.installStub();
    vscode.setDefaultsFromManifest(path.join(root, 'package.json'));
    const server = path.join(dir, 'precedent');
    fs.writeFileSync(server, `#!/bin/sh\nexec "${process.execPath}" "${path.join(__dirname, '..', 'testSupport', 'fakeServer.js')}" "$@"\n`, { mode: 0o755 });
    process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ''}`;
    vscode.userSettings.set('precedent.serverArgs', ['--record', recordFile]);
    vscode.userSettings.set('precedent.k', 32);
    vscode.userSettings.set('precedent.completion.maxItems', 5);
    vscode.userSettings.set('precedent.hints.minRatio', null);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require('../extension') as Extension;
    extension.activate({ subscriptions: [] });
  });

  after(async () => {
    await extension.deactivate();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts `precedent serve` from PATH with the extra arguments', async () => {
    assert.deepEqual(await waitFor('argv', () => last('argv')), ['serve', '--record', recordFile]);
  });

  it('shows the number of entries from precedent/status', async () => {
    await waitFor('the status bar', () => statusText() === '$(book) precedent: 109,527 entries');
    assert.ok(received().some((m) => m.method === 'precedent/status'));
  });

  it('sends only the settings the user set, nested, as initializationOptions and on request', async () => {
    const expected = { k: 32, completion: { maxItems: 5 } };
    const initialize = (await waitFor('initialize', () => last('initialize'))) as { initializationOptions: unknown };
    assert.deepEqual(initialize.initializationOptions, expected);
    assert.deepEqual(await waitFor('configuration', () => last('workspace/configuration result')), [expected]);
    assert.deepEqual(await waitFor('didChangeConfiguration', () => last('workspace/didChangeConfiguration')), { settings: { precedent: expected } });
  });

  it('sends changed settings with workspace/didChangeConfiguration', async () => {
    changeSetting('precedent.hints.severity', 'warning');
    const params = await waitFor('the new settings', () => {
      const p = last('workspace/didChangeConfiguration') as { settings: { precedent: { hints?: unknown } } } | undefined;
      return p?.settings.precedent.hints !== undefined && p;
    });
    assert.deepEqual(params, { settings: { precedent: { k: 32, completion: { maxItems: 5 }, hints: { severity: 'warning' } } } });
  });

  it('reindexes through workspace/executeCommand and shows indexing', async () => {
    await vscode.stub.commands.executeCommand('precedent.reindexCorpus');
    assert.deepEqual(last('workspace/executeCommand'), { command: 'precedent.reindex' });
    await waitFor('the indexing status', () => statusText() === '$(sync~spin) precedent: indexing');
  });

  it('shows the status in a message and the output channel', async () => {
    await vscode.stub.commands.executeCommand('precedent.showStatus');
    assert.deepEqual(vscode.messages.at(-1), { kind: 'info', text: 'precedent: model SmolLM2-135M-Instruct (q4), 1 index with 109,527 entries.' });
    assert.ok(vscode.outputLines.includes('  /abs/team.index: 109,527 entries, 412 documents, modified 2026-11-26T16:00:00Z'));
    assert.equal(statusText(), '$(book) precedent: 109,527 entries');
    assert.deepEqual(vscode.messages.filter((m) => m.kind !== 'info'), [], 'no warning or error so far');
  });

  it('shows the hover for the evidence command', async () => {
    await vscode.stub.commands.executeCommand('precedent.showEvidence');
    assert.equal(vscode.executedCommands.at(-1), 'editor.action.showHover');
  });

  it('stops the server and says what to do when the binary is not found', async () => {
    changeSetting('precedent.serverPath', path.join(dir, 'missing', 'precedent'));
    await waitFor('not installed', () => statusText() === '$(error) precedent: not installed');
    // vscode-languageclient stops once `exit` is sent, not once the server has read it.
    await waitFor('the old server to be shut down', () => received().some((m) => m.method === 'exit'));
    const errors = vscode.messages.filter((m) => m.kind === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].text, /cannot find the language server .*cargo install --path server\/cli.*precedent\.serverPath/);
  });
});
