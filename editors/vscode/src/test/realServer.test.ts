// The extension against the real `precedent serve`: extension.js with the stand-in `vscode`
// module (../testSupport/vscodeStub) starts the binary at $PRECEDENT_BIN through
// vscode-languageclient, on the tiny test model ($PRECEDENT_TEST_MODEL) and an index of
// tests/fixtures/house-style built here. Needs ONNX Runtime ($ORT_DYLIB_PATH or
// $PRECEDENT_HOME), as tests/run.sh sets up; without the two variables, the repository's
// target/release/precedent and target/models/tiny if built, else skipped (../testSupport/repo.ts).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatCount } from '../status';
import { NO_REAL_SERVER, extensionRoot, findRealServer, houseStyleFixtures } from '../testSupport/repo';
import * as vscode from '../testSupport/vscodeStub';
import { waitUntil } from '../testSupport/waitUntil';

type Extension = { activate(context: { subscriptions: unknown[] }): void; deactivate(): Promise<void> };

const root = extensionRoot;
const fixtures = houseStyleFixtures;
const server = findRealServer();
const { bin, model } = server ?? {};
const skip = server === undefined && NO_REAL_SERVER;

// The writer has typed this (the corpus has it: release-notes.md:8, "... To restore a report,
// select it in the trash"), then the same with the next word begun.
const TYPED = 'Reports in the trash now show the date they will be deleted. To restore a report, ';
const TEXT = `# Notes\n\n${TYPED}\n\n${TYPED}s\n`;
const statusText = () => vscode.statusBarItems[0]?.text;
// Loading the model and the index takes a few seconds on a busy machine.
const waitFor = <T>(what: string, probe: () => T | undefined | false) =>
  waitUntil(what, probe, { timeoutMs: 60_000, explain: () => `status bar: ${statusText()}; output:\n${vscode.outputLines.join('\n')}` });

describe('the extension with the real server', { skip }, () => {
  let extension: Extension;
  let dir: string;
  let index: string;
  let entries: number;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-real-'));
    index = path.join(dir, 'idx.index');
    const built = execFileSync(bin!, ['--model', model!, 'index', fixtures, '--out', index], { encoding: 'utf8', stdio: 'pipe', timeout: 120_000 });
    entries = Number(/(\d+) entries/.exec(built)?.[1]);
    assert.ok(entries > 0, built);

    vscode.installStub();
    vscode.setDefaultsFromManifest(path.join(root, 'package.json'));
    const workspace = path.join(dir, 'ws');
    fs.mkdirSync(path.join(workspace, 'docs'), { recursive: true });
    vscode.stub.workspace.workspaceFolders = [{ uri: vscode.Uri.file(workspace), name: 'ws', index: 0 }];
    vscode.userSettings.set('precedent.serverPath', bin);
    // After `serve`: the tiny model, and one thread to be gentle on a shared machine.
    vscode.userSettings.set('precedent.serverArgs', ['--model', model, '--threads', '1']);
    vscode.userSettings.set('precedent.indexPaths', [index]);
    // As the Neovim test: the corpus decides (the tiny model alone knows little).
    vscode.userSettings.set('precedent.lambda', 0.9);
    vscode.userSettings.set('precedent.documentCache', false);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    extension = require('../extension') as Extension;
    extension.activate({ subscriptions: [] });
  });

  after(async () => {
    await extension?.deactivate();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('starts the server, which offers completion after a space and its three commands', async () => {
    const completion = await waitFor('the completion provider', () => vscode.completionProviders[0]);
    assert.deepEqual(completion.triggerCharacters, [' ']);
    // vscode-languageclient registers the server's executeCommand ids as VS Code commands.
    const commands = await vscode.stub.commands.getCommands();
    for (const id of ['precedent.reindex', 'precedent.ignoreHere', 'precedent.ignoreInWorkspace']) {
      assert.ok(commands.includes(id), `${id} in ${commands.join(', ')}`);
    }
  });

  it('shows the number of entries of the index in the status bar once the model is loaded', async () => {
    const expected = `$(book) precedent: ${formatCount(entries)} entries`;
    await waitFor(`"${expected}"`, () => statusText() === expected);
  });

  it('shows the status: the model from serverArgs and the index from indexPaths', async () => {
    await vscode.stub.commands.executeCommand('precedent.showStatus');
    assert.deepEqual(vscode.messages.at(-1), { kind: 'info', text: `precedent: model tiny-test-model, 1 index with ${formatCount(entries)} entries.` });
    assert.ok(vscode.outputLines.includes('Model: tiny-test-model'), vscode.outputLines.join('\n'));
    const indexLine = new RegExp(`^  ${index.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${formatCount(entries)} entries, 3 documents, modified \\d{4}-\\d\\d-\\d\\dT`);
    assert.ok(vscode.outputLines.some((line) => indexLine.test(line)), vscode.outputLines.join('\n'));
    assert.deepEqual(vscode.messages.filter((m) => m.kind !== 'info'), [], 'no warning or error');
  });

  it('completes at the cursor in a Markdown document: the corpus word first, with its evidence', async () => {
    const document = vscode.openTextDocument(path.join(dir, 'ws', 'docs', 'notes.md'), 'markdown', TEXT);
    const complete = async (line: number, character: number, triggerCharacter?: string) => {
      const result = await vscode.completionProviders[0].provider.provideCompletionItems(
        document,
        new vscode.Position(line, character),
        new vscode.CancellationTokenSource().token,
        triggerCharacter === undefined ? { triggerKind: 0 } : { triggerKind: 1, triggerCharacter },
      );
      assert.ok(result instanceof vscode.CompletionList, `a completion list: ${JSON.stringify(result)}`);
      assert.equal(result.isIncomplete, true);
      assert.ok(result.items.length > 0, 'some items');
      return result.items as (vscode.CompletionItem & { insertText: string; range: vscode.Range; documentation: vscode.MarkdownString })[];
    };

    // After the space: insertions at the cursor.
    const afterSpace = await complete(2, TYPED.length, ' ');
    for (const item of afterSpace) {
      assert.deepEqual(item.range, new vscode.Range(2, TYPED.length, 2, TYPED.length), JSON.stringify(item));
    }
    assert.equal(afterSpace[0].label, 'select', JSON.stringify(afterSpace.map((item) => item.label)));
    assert.equal(afterSpace[0].insertText, 'select');
    assert.match(afterSpace[0].documentation.value, /release-notes\.md:8/);
    assert.match(afterSpace[0].documentation.value, /To restore a report, \*\*select\*\* it in the trash/);

    // Mid-word: the typed "s" filters and is replaced.
    const midWord = await complete(4, TYPED.length + 1);
    for (const item of midWord) {
      assert.deepEqual(item.range, new vscode.Range(4, TYPED.length, 4, TYPED.length + 1), JSON.stringify(item));
      assert.ok(item.insertText.startsWith('s'), JSON.stringify(item));
    }
    assert.equal(midWord[0].insertText, 'select');
  });

  it('offers the phrase the corpus is sure of as ghost text at the cursor', async () => {
    const ghost = await waitFor('the inline completion provider', () => vscode.inlineCompletionProviders[0]);
    const document = vscode.openTextDocument(path.join(dir, 'ws', 'docs', 'ghost.md'), 'markdown', TEXT);
    const result = await ghost.provideInlineCompletionItems(
      document,
      new vscode.Position(2, TYPED.length),
      { triggerKind: 1, selectedCompletionInfo: undefined },
      new vscode.CancellationTokenSource().token,
    );
    const items = result instanceof vscode.InlineCompletionList ? result.items : result;
    assert.ok(Array.isArray(items) && items.length === 1, `one ghost text: ${JSON.stringify(result)}`);
    // The corpus: "To restore a report, select it in the trash" (release-notes.md:8).
    const insertText = items[0].insertText;
    assert.match(typeof insertText === 'string' ? insertText : insertText.value, /^select\b/);
    assert.deepEqual(items[0].range, new vscode.Range(2, TYPED.length, 2, TYPED.length));
  });

  it('has logged no warning or error (server log and vscode-languageclient)', () => {
    const problems = vscode.outputLines.filter((line) => /\b(WARN|ERROR)\b|\[Error/.test(line));
    assert.deepEqual(problems, []);
  });
});
