import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCount, normalizeStatus, statusBarView, statusDetails, statusSummary } from '../status';

// The example of PROTOCOL.md.
const example = {
  model: 'SmolLM2-135M-Instruct (q4)',
  modelError: null,
  indexes: [{ path: '/abs/team.index', entries: 109527, documents: 412, modified: '2026-11-26T16:00:00Z' }],
  indexing: false,
  lastUpdate: '2026-11-26T16:00:00Z',
  k: 64,
  lambda: 0.4,
  temperature: 2.0,
  documentCache: true,
};

describe('formatCount', () => {
  it('groups thousands with commas whatever the locale', () => {
    assert.equal(formatCount(0), '0');
    assert.equal(formatCount(999), '999');
    assert.equal(formatCount(1000), '1,000');
    assert.equal(formatCount(109527), '109,527');
    assert.equal(formatCount(1234567), '1,234,567');
    assert.equal(formatCount(-4096), '-4,096');
    assert.equal(formatCount(Number.NaN), '?');
  });
});

describe('statusBarView', () => {
  it('shows the number of entries when the server is ready', () => {
    assert.equal(statusBarView('running', normalizeStatus(example)).text, '$(book) precedent: 109,527 entries');
  });

  it('adds up the entries of all indexes', () => {
    const status = normalizeStatus({
      ...example,
      indexes: [
        { path: '/a.index', entries: 1000, documents: 3, modified: null },
        { path: '/b.index', entries: 234, documents: 1, modified: null },
      ],
    });
    assert.equal(statusBarView('running', status).text, '$(book) precedent: 1,234 entries');
  });

  it('says "entry" for one', () => {
    const status = normalizeStatus({ ...example, indexes: [{ path: '/a', entries: 1, documents: 1 }] });
    assert.equal(statusBarView('running', status).text, '$(book) precedent: 1 entry');
  });

  it('spins while indexing', () => {
    assert.equal(statusBarView('running', normalizeStatus({ ...example, indexing: true })).text, '$(sync~spin) precedent: indexing');
  });

  it('warns when there is no model, before anything else', () => {
    const view = statusBarView('running', normalizeStatus({ ...example, model: null, modelError: 'model.onnx not found', indexing: true }));
    assert.equal(view.text, '$(warning) precedent: no model');
    assert.match(view.tooltip, /model\.onnx not found/);
    assert.match(view.tooltip, /precedent setup/);
  });

  it('says when there is no index, and the tooltip says how to add one', () => {
    const view = statusBarView('running', normalizeStatus({ ...example, indexes: [] }));
    assert.equal(view.text, '$(book) precedent: no index');
    assert.match(view.tooltip, /precedent\.indexPaths/);
  });

  it('puts the details in the tooltip', () => {
    const tooltip = statusBarView('running', normalizeStatus(example)).tooltip;
    assert.match(tooltip, /\/abs\/team\.index: 109,527 entries, 412 documents/);
    assert.match(tooltip, /Click for details/);
  });

  it('reflects the client state before any status arrives', () => {
    assert.equal(statusBarView('starting', undefined).text, '$(sync~spin) precedent: starting');
    assert.equal(statusBarView('running', undefined).text, '$(book) precedent');
    assert.equal(statusBarView('stopped', normalizeStatus(example)).text, '$(error) precedent: stopped');
    const notFound = statusBarView('notFound', undefined);
    assert.equal(notFound.text, '$(error) precedent: not installed');
    assert.match(notFound.tooltip, /cargo install --path server\/cli/);
  });
});

describe('statusSummary', () => {
  it('is one line', () => {
    assert.equal(
      statusSummary(normalizeStatus(example)),
      'precedent: model SmolLM2-135M-Instruct (q4), 1 index with 109,527 entries.',
    );
    assert.equal(
      statusSummary(normalizeStatus({ ...example, indexes: [], indexing: true })),
      'precedent: model SmolLM2-135M-Instruct (q4), no index, indexing now.',
    );
    assert.equal(
      statusSummary(normalizeStatus({ ...example, model: null, modelError: 'no manifest.json in /m' })),
      'precedent: no model could be loaded: no manifest.json in /m',
    );
  });
});

describe('statusDetails', () => {
  it('lists everything in the status', () => {
    assert.equal(
      statusDetails(normalizeStatus(example)),
      [
        'Model: SmolLM2-135M-Instruct (q4)',
        'Indexes: 109,527 entries in total',
        '  /abs/team.index: 109,527 entries, 412 documents, modified 2026-11-26T16:00:00Z',
        'Indexing: idle',
        'Last update: 2026-11-26T16:00:00Z',
        'Parameters: k = 64, λ = 0.4, T = 2, document cache on',
      ].join('\n'),
    );
  });
});

describe('normalizeStatus', () => {
  it('survives a server that sends less, or something else', () => {
    for (const raw of [undefined, null, 'ready', [], {}, { indexes: 'none', indexing: 'yes', k: '64' }]) {
      const status = normalizeStatus(raw);
      assert.deepEqual(status.indexes, []);
      assert.equal(status.indexing, false);
      assert.equal(status.model, null);
      assert.equal(status.k, null);
      assert.doesNotThrow(() => statusBarView('running', status));
      assert.doesNotThrow(() => statusDetails(status));
    }
  });

  it('skips malformed index entries and fills missing fields', () => {
    const status = normalizeStatus({ model: 'm', indexes: [null, 7, { path: '/x', entries: 10 }] });
    assert.deepEqual(status.indexes, [{ path: '/x', entries: 10, documents: 0, modified: null, keepInlineCode: false, replacementError: null, searchError: null }]);
  });
});
