// The server's status (`precedent/status`, `precedent/statusChanged`; PROTOCOL.md) as text
// for the status bar and the Show status command. Pure: no `vscode` import.

export interface IndexStatus {
  path: string;
  entries: number;
  documents: number;
  modified: string | null;
  /** Built with `precedent index --keep-inline-code`. */
  keepInlineCode: boolean;
  /** The file was replaced by one that cannot be opened: why (the index loaded before still serves). */
  replacementError: string | null;
  /** A Milvus index whose searches fail: why (suggestions go on without it). */
  searchError: string | null;
}

export interface ServerStatus {
  model: string | null;
  modelError: string | null;
  indexes: IndexStatus[];
  indexing: boolean;
  lastUpdate: string | null;
  k: number | null;
  lambda: number | null;
  temperature: number | null;
  documentCache: boolean | null;
  documentCacheSkipRecent: number | null;
}

/** Where the extension is with the server process. */
export type ClientState = 'starting' | 'running' | 'stopped' | 'notFound';

export interface StatusBarView {
  text: string;
  tooltip: string;
}

/**
 * A status object as received, with missing or mistyped fields replaced by empty values:
 * the status bar must not break on a server that sends less than PROTOCOL.md says.
 */
export function normalizeStatus(raw: unknown): ServerStatus {
  const obj = isRecord(raw) ? raw : {};
  const indexes = Array.isArray(obj.indexes) ? obj.indexes.filter(isRecord) : [];
  return {
    model: stringOrNull(obj.model),
    modelError: stringOrNull(obj.modelError),
    indexes: indexes.map((index) => ({
      path: stringOrNull(index.path) ?? '?',
      entries: numberOrNull(index.entries) ?? 0,
      documents: numberOrNull(index.documents) ?? 0,
      modified: stringOrNull(index.modified),
      keepInlineCode: index.keepInlineCode === true,
      replacementError: stringOrNull(index.replacementError),
      searchError: stringOrNull(index.searchError),
    })),
    indexing: obj.indexing === true,
    lastUpdate: stringOrNull(obj.lastUpdate),
    k: numberOrNull(obj.k),
    lambda: numberOrNull(obj.lambda),
    temperature: numberOrNull(obj.temperature),
    documentCache: typeof obj.documentCache === 'boolean' ? obj.documentCache : null,
    documentCacheSkipRecent: numberOrNull(obj.documentCacheSkipRecent),
  };
}

/** 109527 -> "109,527" (fixed format, independent of the machine's locale). */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) {
    return '?';
  }
  const sign = n < 0 ? '-' : '';
  return sign + String(Math.round(Math.abs(n))).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** No model yet and no error: the server is still loading it (`model` and `modelError` both null). */
export function isModelLoading(status: ServerStatus): boolean {
  return status.model === null && status.modelError === null;
}

/** The indexes whose file was replaced by one that cannot be opened (the old one still serves). */
export function unreplacedIndexes(status: ServerStatus): IndexStatus[] {
  return status.indexes.filter((index) => index.replacementError !== null);
}

/** The indexes whose searches fail (a Milvus engine that does not answer). */
export function failingIndexes(status: ServerStatus): IndexStatus[] {
  return status.indexes.filter((index) => index.searchError !== null);
}

export function totalEntries(status: ServerStatus): number {
  return status.indexes.reduce((sum, index) => sum + index.entries, 0);
}

function plural(n: number, one: string, many: string): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

const CLICK = 'Click for details.';
const NO_INDEX_HELP = 'Set precedent.indexPaths (index files built with `precedent index`) or precedent.corpus (folders to index).';

/** Status bar text (with a codicon) and tooltip. */
export function statusBarView(state: ClientState, status: ServerStatus | undefined): StatusBarView {
  switch (state) {
    case 'notFound':
      return {
        text: '$(error) precedent: not installed',
        tooltip: 'The precedent binary was not found. Install it with `cargo install --path server/cli` or set precedent.serverPath.',
      };
    case 'starting':
      return { text: '$(sync~spin) precedent: starting', tooltip: 'Starting the precedent language server.' };
    case 'stopped':
      return { text: '$(error) precedent: stopped', tooltip: `The precedent language server is not running. ${CLICK}` };
    case 'running':
      break;
  }
  if (status === undefined) {
    return { text: '$(book) precedent', tooltip: `The precedent language server is running. ${CLICK}` };
  }
  const details = `${statusDetails(status)}\n\n${CLICK}`;
  // Without a model nothing works (indexing included), so that comes first.
  if (isModelLoading(status)) {
    return { text: '$(sync~spin) precedent: loading model', tooltip: details };
  }
  if (status.model === null) {
    return { text: '$(warning) precedent: no model', tooltip: details };
  }
  if (status.indexing) {
    return { text: '$(sync~spin) precedent: indexing', tooltip: details };
  }
  if (status.indexes.length === 0) {
    return { text: '$(book) precedent: no index', tooltip: details };
  }
  // An index file that could not be reloaded (the old index still serves), or an index whose
  // searches fail: it works, but say so.
  const icon = unreplacedIndexes(status).length > 0 || failingIndexes(status).length > 0 ? '$(warning)' : '$(book)';
  return { text: `${icon} precedent: ${plural(totalEntries(status), 'entry', 'entries')}`, tooltip: details };
}

/** One line for a notification. */
export function statusSummary(status: ServerStatus): string {
  if (isModelLoading(status)) {
    return 'precedent: loading the language model.';
  }
  if (status.model === null) {
    return `precedent: no model could be loaded${status.modelError ? `: ${status.modelError}` : '.'}`;
  }
  const parts = [`model ${status.model}`];
  if (status.indexes.length === 0) {
    parts.push('no index');
  } else {
    parts.push(
      `${plural(status.indexes.length, 'index', 'indexes')} with ${plural(totalEntries(status), 'entry', 'entries')}`,
    );
  }
  const unreplaced = unreplacedIndexes(status).length;
  if (unreplaced > 0) {
    parts.push(`${plural(unreplaced, 'index file', 'index files')} could not be reloaded`);
  }
  const failing = failingIndexes(status).length;
  if (failing > 0) {
    parts.push(`${plural(failing, 'index does', 'indexes do')} not answer`);
  }
  if (status.indexing) {
    parts.push('indexing now');
  }
  return `precedent: ${parts.join(', ')}.`;
}

/** Several lines: everything in the status, for the tooltip and the output channel. */
export function statusDetails(status: ServerStatus): string {
  const lines: string[] = [];
  if (isModelLoading(status)) {
    lines.push('Model: loading');
  } else if (status.model === null) {
    lines.push('Model: none could be loaded');
    lines.push(`  ${status.modelError ?? 'no reason given'}`);
    lines.push('  Run `precedent setup` to install the default model, or set precedent.modelPath.');
  } else {
    lines.push(`Model: ${status.model}`);
  }
  if (status.indexes.length === 0) {
    lines.push('Indexes: none. Suggestions come from the model alone.');
    lines.push(`  ${NO_INDEX_HELP}`);
  } else {
    lines.push(`Indexes: ${plural(totalEntries(status), 'entry', 'entries')} in total`);
    for (const index of status.indexes) {
      const modified = index.modified === null ? '' : `, modified ${index.modified}`;
      const inlineCode = index.keepInlineCode ? ', inline code kept' : '';
      lines.push(
        `  ${index.path}: ${plural(index.entries, 'entry', 'entries')}, ${plural(index.documents, 'document', 'documents')}${modified}${inlineCode}`,
      );
      if (index.replacementError !== null) {
        lines.push(`    Its file was replaced by one that cannot be opened (the index loaded before still serves): ${index.replacementError}`);
      }
      if (index.searchError !== null) {
        lines.push(`    Its searches fail; suggestions go on without it until it answers: ${index.searchError}`);
      }
    }
  }
  lines.push(`Indexing: ${status.indexing ? 'running' : 'idle'}`);
  if (status.lastUpdate !== null) {
    lines.push(`Last update: ${status.lastUpdate}`);
  }
  const parameters = [
    status.k === null ? null : `k = ${status.k}`,
    status.lambda === null ? null : `λ = ${status.lambda}`,
    status.temperature === null ? null : `T = ${status.temperature}`,
    status.documentCache === null ? null : `document cache ${status.documentCache ? 'on' : 'off'}`,
    status.documentCacheSkipRecent === null ? null : `skip recent = ${status.documentCacheSkipRecent}`,
  ].filter((part): part is string => part !== null);
  if (parameters.length > 0) {
    lines.push(`Parameters: ${parameters.join(', ')}`);
  }
  return lines.join('\n');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
