// Where the tests find the rest of the precedent repository: the server's sources (read as
// the source of truth for setting names and status fields), the fixtures, and the built
// binary with the tiny test model.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** The extension folder (tests are compiled to out/test/, two levels below it). */
export const extensionRoot = path.join(__dirname, '..', '..');
/** The precedent repository holding this extension, if it is one. */
export const repoRoot = path.join(extensionRoot, '..', '..');
export const houseStyleFixtures = path.join(repoRoot, 'tests', 'fixtures', 'house-style');

/** A server source file (read-only), or undefined outside a precedent checkout. */
export function serverSource(relative: string): string | undefined {
  const file = path.join(repoRoot, 'server', relative);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined;
}

export interface RealServer {
  bin: string;
  model: string;
}

/**
 * The real `precedent` binary and the tiny test model: $PRECEDENT_BIN and
 * $PRECEDENT_TEST_MODEL (tests/run.sh sets both), else target/release/precedent and
 * target/models/tiny of this repository when both are there. Undefined when neither is.
 * The binary also needs ONNX Runtime ($ORT_DYLIB_PATH, $PRECEDENT_HOME or `precedent setup`).
 */
export function findRealServer(): RealServer | undefined {
  const { PRECEDENT_BIN: bin, PRECEDENT_TEST_MODEL: model } = process.env;
  if (bin !== undefined && model !== undefined) {
    return { bin, model };
  }
  const built = {
    bin: path.join(repoRoot, 'target', 'release', 'precedent'),
    model: path.join(repoRoot, 'target', 'models', 'tiny'),
  };
  return fs.existsSync(built.bin) && fs.existsSync(path.join(built.model, 'manifest.json')) ? built : undefined;
}

export const NO_REAL_SERVER =
  'no real server: set PRECEDENT_BIN (the precedent binary) and PRECEDENT_TEST_MODEL (the tiny test model), ' +
  'or build target/release/precedent and target/models/tiny (tests/run.sh does both)';
