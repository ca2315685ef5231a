// Every contributed setting against the real `precedent serve` (see settingsRoundTrip.test.ts
// for what the extension sends): each is set to its non-default value, and the server must
// take every one (no "ignored", no "unknown setting" in its log), report back those its status
// carries, in the status bar and Show status, and name each one when it refuses a value of
// the wrong type, which shows it reads that very name. Skipped without the real server
// (../testSupport/repo.ts, findRealServer).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NO_REAL_SERVER, extensionRoot, findRealServer, houseStyleFixtures } from '../testSupport/repo';
import { CLIENT_ONLY, contributedSettings, nonDefaultValues, wrongTypeValue } from '../testSupport/settingValues';
import * as vscode from '../testSupport/vscodeStub';
import { waitUntil } from '../testSupport/waitUntil';

type Extension = { activate(context: { subscriptions: unknown[] }): void; deactivate(): Promise<void> };

const server = findRealServer();
const contributed = contributedSettings();
const serverKeys = Object.keys(contributed).filter((key) => !(key in CLIENT_ONLY));
const tooltip = () => {
  const value = vscode.statusBarItems[0]?.tooltip;
  return typeof value === 'string' ? value : '';
};
const waitFor = <T>(what: string, probe: () => T | undefined | false) =>
  waitUntil(what, probe, {
    timeoutMs: 60_000,
    explain: () => `status bar: ${vscode.statusBarItems[0]?.text}\n${tooltip()}\noutput:\n${vscode.outputLines.join('\n')}`,
  });
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// A refused value, as the server logs it: "client settings: hints.minRatio = -3 ignored: must be at least 1".
const refusal = (key: string) => new RegExp(`client settings: ${escape(key.slice('precedent.'.length))} = .* ignored`);

describe('every contributed setting against the real server', { skip: server === undefined && NO_REAL_SERVER }, () => {
  let extension: Extension;
  let dir: string;
  let values: Record<string, unknown>;
  // The settings the server's status reports back, and the line of the status details that shows each.
  let echoed: Record<string, RegExp>;

  before(() => {
    const { bin, model } = server!;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-real-settings-'));
    const index = path.join(dir, 'team.index');
    execFileSync(bin, ['--model', model, 'index', houseStyleFixtures, '--out', index], { stdio: 'pipe', timeout: 120_000 });
    const corpus = path.join(dir, 'corpus');
    fs.cpSync(houseStyleFixtures, corpus, { recursive: true });
    const corpusIndex = path.join(dir, 'corpus.index');
    // No --model: the model must come from modelPath.
    values = nonDefaultValues({ serverPath: bin, serverArgs: ['--threads', '1'], model, index, corpus, corpusIndex });
    echoed = {
      'precedent.modelPath': /^Model: tiny-test-model$/m,
      'precedent.indexPaths': new RegExp(`^  ${escape(index)}: [\\d,]+ entries, 3 documents`, 'm'),
      // The server indexes the corpus folder into corpusIndexPath, then serves that index too.
      'precedent.corpus': new RegExp(`^  ${escape(corpusIndex)}: [\\d,]+ entries, 3 documents`, 'm'),
      'precedent.corpusIndexPath': new RegExp(`^  ${escape(corpusIndex)}: `, 'm'),
      'precedent.k': /^Parameters: .*\bk = 7\b/m,
      'precedent.lambda': /^Parameters: .*λ = 0\.9\b/m,
      'precedent.temperature': /^Parameters: .*\bT = 1\.5\b/m,
      'precedent.documentCache': /^Parameters: .*document cache off/m,
      'precedent.documentCacheSkipRecent': /^Parameters: .*skip recent = 2\b/m,
    };

    vscode.installStub();
    vscode.setDefaultsFromManifest(path.join(extensionRoot, 'package.json'));
    const workspace = path.join(dir, 'ws');
    fs.mkdirSync(workspace);
    vscode.stub.workspace.workspaceFolders = [{ uri: vscode.Uri.file(workspace), name: 'ws', index: 0 }];
    for (const [key, value] of Object.entries(values)) {
      vscode.userSettings.set(key, value);
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require('../extension') as Extension;
    extension.activate({ subscriptions: [] });
  });

  after(async () => {
    await extension?.deactivate();
    if (dir !== undefined) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports back the settings its status carries, in the status bar tooltip', async () => {
    // Once the corpus is indexed: both indexes, nothing running.
    await waitFor('both indexes, indexing done', () => echoed['precedent.corpus'].test(tooltip()) && /^Indexing: idle$/m.test(tooltip()));
    for (const [key, line] of Object.entries(echoed)) {
      assert.match(tooltip(), line, `${key} = ${JSON.stringify(values[key])}`);
    }
    assert.match(vscode.statusBarItems[0].text, /^\$\(book\) precedent: [\d,]+ entries$/);
  });

  it('reports the same through Show status: the message and the details in the output', async () => {
    const before = vscode.outputLines.length;
    await vscode.stub.commands.executeCommand('precedent.showStatus');
    assert.match(vscode.messages.at(-1)?.text ?? '', /^precedent: model tiny-test-model, 2 indexes with [\d,]+ entries\.$/);
    const details = vscode.outputLines.slice(before).join('\n');
    for (const [key, line] of Object.entries(echoed)) {
      assert.match(details, line, key);
    }
  });

  it('takes every setting: none ignored, none unknown, no warning at all', () => {
    const problems = vscode.outputLines.filter((line) => /\b(WARN|ERROR)\b|\[Error|ignored|unknown setting/.test(line));
    assert.deepEqual(problems, []);
    assert.deepEqual(vscode.messages.filter((m) => m.kind !== 'info'), [], 'no warning or error message');
  });

  it('follows completion.enabled = false: no suggestion, no ghost text', async () => {
    const document = vscode.openTextDocument(path.join(dir, 'ws', 'notes.md'), 'markdown', 'To restore a report, ');
    const position = new vscode.Position(0, 'To restore a report, '.length);
    const token = new vscode.CancellationTokenSource().token;
    const completion = await waitFor('the completion provider', () => vscode.completionProviders[0]);
    const items = await completion.provider.provideCompletionItems(document, position, token, { triggerKind: 1, triggerCharacter: ' ' });
    assert.deepEqual(items instanceof vscode.CompletionList ? items.items : (items ?? []), []);
    const ghost = await waitFor('the inline completion provider', () => vscode.inlineCompletionProviders[0]);
    const ghostItems = await ghost.provideInlineCompletionItems(document, position, { triggerKind: 1, selectedCompletionInfo: undefined }, token);
    assert.deepEqual(ghostItems instanceof vscode.InlineCompletionList ? ghostItems.items : (ghostItems ?? []), []);
  });

  it('reads each server setting by its name: a value of the wrong type is refused, naming it', async () => {
    // modelPath keeps its value: the model is loaded once per start, and the server would
    // load the default one in its place (the status above shows modelPath is read).
    const changed = serverKeys.filter((key) => key !== 'precedent.modelPath');
    for (const key of changed) {
      vscode.userSettings.set(key, wrongTypeValue(contributed[key]));
    }
    // One settings.json save; languages and filePatterns restart the server, which then gets
    // the values as initializationOptions, the others also come by didChangeConfiguration.
    vscode.onDidChangeConfiguration.fire({ affectsConfiguration: (section) => changed.some((key) => key === section || key.startsWith(`${section}.`)) });
    for (const key of changed) {
      await waitFor(`the server to refuse ${key} = ${JSON.stringify(wrongTypeValue(contributed[key]))}`, () =>
        vscode.outputLines.some((line) => refusal(key).test(line)),
      );
    }
  });
});
