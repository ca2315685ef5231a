import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { documentSelector, explicitValue, toServerSettings } from '../settings';

describe('toServerSettings', () => {
  it('nests dotted keys and keeps top-level ones', () => {
    const flat = {
      indexPaths: ['/team/docs.index'],
      k: 32,
      lambda: 0.25,
      documentCache: false,
      'completion.enabled': true,
      'completion.maxItems': 5,
      'completion.phraseWords': 0,
      'completion.phraseMinProbability': 0.6,
      'hover.enabled': false,
      'hints.severity': 'warning',
      'hints.minRatio': 3,
      'hints.maxPerDocument': 0,
    };
    assert.deepEqual(toServerSettings(flat), {
      indexPaths: ['/team/docs.index'],
      k: 32,
      lambda: 0.25,
      documentCache: false,
      completion: { enabled: true, maxItems: 5, phraseWords: 0, phraseMinProbability: 0.6 },
      hover: { enabled: false },
      hints: { severity: 'warning', minRatio: 3, maxPerDocument: 0 },
    });
  });

  it('drops null and undefined, so the server falls back to precedent.toml, the index or its default', () => {
    const flat = {
      modelPath: null,
      corpusIndexPath: undefined,
      k: null,
      temperature: 1.5,
      'hints.minPreferredProbability': null,
      'hints.minRatio': null,
    };
    assert.deepEqual(toServerSettings(flat), { temperature: 1.5 });
  });

  it('keeps falsy values that are not null: false, 0, empty string and empty list', () => {
    const flat = { 'hints.enabled': false, 'hints.maxPerDocument': 0, modelPath: '', corpus: [] };
    assert.deepEqual(toServerSettings(flat), { modelPath: '', corpus: [], hints: { enabled: false, maxPerDocument: 0 } });
  });

  it('never sends the client-only settings or unknown keys', () => {
    const flat = { serverPath: '/usr/bin/precedent', serverArgs: ['-v'], bogus: 1, 'completion.bogus': 2 };
    assert.deepEqual(toServerSettings(flat), {});
  });

  it('returns an empty object when nothing is set', () => {
    assert.deepEqual(toServerSettings({}), {});
  });
});

describe('explicitValue', () => {
  it('takes the most specific level the user set', () => {
    assert.equal(explicitValue({ defaultValue: 8, globalValue: 5 }), 5);
    assert.equal(explicitValue({ defaultValue: 8, globalValue: 5, workspaceValue: 6 }), 6);
    assert.equal(explicitValue({ defaultValue: 8, globalValue: 5, workspaceValue: 6, workspaceFolderValue: 7 }), 7);
  });

  it('ignores VS Code defaults, so precedent.toml is not overridden by them', () => {
    assert.equal(explicitValue({ defaultValue: 8 }), undefined);
    assert.equal(explicitValue(undefined), undefined);
  });

  it('lets an explicit null at a more specific level reset a less specific value', () => {
    assert.equal(explicitValue({ defaultValue: null, globalValue: 32, workspaceValue: null }), null);
  });
});

describe('documentSelector', () => {
  it('covers each language on disk and in untitled editors', () => {
    assert.deepEqual(documentSelector(['markdown', 'plaintext'], []), [
      { scheme: 'file', language: 'markdown' },
      { scheme: 'untitled', language: 'markdown' },
      { scheme: 'file', language: 'plaintext' },
      { scheme: 'untitled', language: 'plaintext' },
    ]);
  });

  it('adds file patterns for files of any language', () => {
    assert.deepEqual(documentSelector(['markdown'], ['**/*.txt', '**/NOTES']), [
      { scheme: 'file', language: 'markdown' },
      { scheme: 'untitled', language: 'markdown' },
      { scheme: 'file', pattern: '**/*.txt' },
      { scheme: 'file', pattern: '**/NOTES' },
    ]);
  });

  it('ignores duplicates, blanks and values that are not strings', () => {
    assert.deepEqual(documentSelector(['html', ' html ', '', 3, null], 'not a list'), [
      { scheme: 'file', language: 'html' },
      { scheme: 'untitled', language: 'html' },
    ]);
    assert.deepEqual(documentSelector(undefined, undefined), []);
  });
});
