// Every contributed setting (package.json, read now), from VS Code to the server: each is set
// to a non-default value, the extension (extension.js under the stand-in `vscode` module)
// starts a stand-in server that records what it receives, and each value must arrive under
// the name the server reads (server/lsp/src/config/table.rs), or be one of the client-only
// settings listed with their reason. settingsRealServer.test.ts sends the same values to the
// real server.

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SERVER_SETTING_KEYS } from '../settings';
import { extensionRoot } from '../testSupport/repo';
import {
  CLIENT_ONLY,
  admits,
  atPath,
  contributedSettings,
  kindTypes,
  leafKeys,
  nonDefaultValues,
  schemaProblem,
  serverSettingKinds,
} from '../testSupport/settingValues';
import * as vscode from '../testSupport/vscodeStub';
import { waitUntil } from '../testSupport/waitUntil';

type Extension = { activate(context: { subscriptions: unknown[] }): void; deactivate(): Promise<void> };
type Received = { method: string; params: unknown };

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-settings-'));
const recordFile = path.join(dir, 'received.jsonl');
// Not `precedent` on PATH (the default): a program of another name, elsewhere.
const serverPath = path.join(dir, 'bin', 'stand-in-precedent');
const values = nonDefaultValues({
  serverPath,
  serverArgs: ['--record', recordFile, '--threads', '1'],
  model: '/models/tiny',
  index: '/indexes/team.index',
  corpus: '/docs',
  corpusIndex: '/indexes/docs.index',
});
const contributed = contributedSettings();
const serverKeys = Object.keys(contributed)
  .filter((key) => !(key in CLIENT_ONLY))
  .map((key) => key.slice('precedent.'.length));
const serverKinds = serverSettingKinds();

function received(): Received[] {
  return fs.existsSync(recordFile)
    ? fs.readFileSync(recordFile, 'utf8').split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Received)
    : [];
}
const last = (method: string) => received().filter((m) => m.method === method).at(-1)?.params;
const waitFor = <T>(what: string, probe: () => T | undefined | false) =>
  waitUntil(what, probe, { explain: () => `server received: ${JSON.stringify(received())}; output: ${vscode.outputLines.join('\n')}` });

describe('the contributed settings', () => {
  it('each have a non-default value of their own type here', () => {
    assert.deepEqual(Object.keys(values).sort(), Object.keys(contributed).sort(), 'a value for each contributed setting, no more');
    for (const [key, schema] of Object.entries(contributed)) {
      assert.equal(schemaProblem(schema, values[key]), undefined, key);
    }
  });

  it('are each either sent to the server or client-only with a reason', () => {
    for (const [key, reason] of Object.entries(CLIENT_ONLY)) {
      assert.ok(key in contributed, `${key} is listed as client-only but not contributed`);
      assert.ok(reason.length > 0, key);
    }
    // What extension.ts sends (settings.ts): every contributed setting that is not client-only.
    assert.deepEqual([...SERVER_SETTING_KEYS].sort(), [...serverKeys].sort());
  });

  it('that the extension sends are the settings the server declares, of the same type', { skip: serverKinds === undefined && 'not in a precedent checkout' }, () => {
    assert.deepEqual([...serverKinds!.keys()].sort(), [...serverKeys].sort(), 'server/lsp/src/config/table.rs against package.json');
    for (const key of serverKeys) {
      const kind = serverKinds!.get(key)!;
      const types = kindTypes(kind);
      assert.ok(types !== undefined, `${key}: table.rs kind ${kind} is new to settingValues.ts (KIND_TYPES)`);
      const value = values[`precedent.${key}`];
      assert.ok(admits(types, value), `${key}: table.rs's Kind::${kind} takes ${types.join(' | ')}, not ${JSON.stringify(value)}`);
    }
  });
});

describe('every contributed setting, as the server receives it (stand-in server)', { skip: process.platform === 'win32' && 'uses a shell script as the server' }, () => {
  let extension: Extension;

  before(() => {
    vscode.installStub();
    vscode.setDefaultsFromManifest(path.join(extensionRoot, 'package.json'));
    fs.mkdirSync(path.dirname(serverPath));
    fs.writeFileSync(serverPath, `#!/bin/sh\nexec "${process.execPath}" "${path.join(__dirname, '..', 'testSupport', 'fakeServer.js')}" "$@"\n`, { mode: 0o755 });
    for (const [key, value] of Object.entries(values)) {
      vscode.userSettings.set(key, value);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require('../extension') as Extension;
    extension.activate({ subscriptions: [] });
  });

  after(async () => {
    await extension.deactivate();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts the program of serverPath with `serve` and serverArgs', async () => {
    assert.deepEqual(await waitFor('argv', () => last('argv')), ['serve', ...(values['precedent.serverArgs'] as string[])]);
  });

  const channels: [string, () => Promise<unknown>][] = [
    ['initializationOptions', async () => ((await waitFor('initialize', () => last('initialize'))) as { initializationOptions: unknown }).initializationOptions],
    ['the answer to workspace/configuration', async () => ((await waitFor('configuration', () => last('workspace/configuration result'))) as unknown[])[0]],
    [
      'workspace/didChangeConfiguration',
      async () => ((await waitFor('didChangeConfiguration', () => last('workspace/didChangeConfiguration'))) as { settings: { precedent: unknown } }).settings.precedent,
    ],
  ];
  for (const [channel, sent] of channels) {
    it(`sends every server setting under the server's name in ${channel}, and nothing else`, async () => {
      const settings = await sent();
      for (const key of serverKeys) {
        assert.deepEqual(atPath(settings, key), values[`precedent.${key}`], `${key} in ${JSON.stringify(settings)}`);
      }
      assert.deepEqual(leafKeys(settings).sort(), [...serverKeys].sort(), 'no client-only setting, no other key');
    });
  }

  it('syncs the documents of `languages` only: plaintext now, no longer html', async () => {
    vscode.openTextDocument(path.join(dir, 'notes.txt'), 'plaintext', 'Some notes.\n');
    vscode.openTextDocument(path.join(dir, 'page.html'), 'html', '<p>A page.</p>\n');
    const opened = await waitFor('didOpen', () => last('textDocument/didOpen')) as { textDocument: { languageId: string } };
    assert.equal(opened.textDocument.languageId, 'plaintext');
    // The html document went nowhere: anything after it would have arrived after it.
    await vscode.stub.commands.executeCommand('precedent.reindexCorpus');
    await waitFor('reindex', () => last('workspace/executeCommand'));
    const languages = received().filter((m) => m.method === 'textDocument/didOpen').map((m) => (m.params as { textDocument: { languageId: string } }).textDocument.languageId);
    assert.deepEqual(languages, ['plaintext']);
  });

  it('restarts the server when modelPath changes: the server loads its model once, at start', async () => {
    const starts = () => received().filter((m) => m.method === 'initialize');
    assert.equal(starts().length, 1);
    vscode.userSettings.set('precedent.modelPath', '/models/other');
    vscode.onDidChangeConfiguration.fire({ affectsConfiguration: (section) => 'precedent.modelPath'.startsWith(section) });
    const restarted = (await waitFor('a second start', () => starts()[1]?.params)) as { initializationOptions: unknown };
    assert.equal(atPath(restarted.initializationOptions, 'modelPath'), '/models/other');
  });
});
