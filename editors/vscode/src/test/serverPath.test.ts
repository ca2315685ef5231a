import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, it } from 'node:test';
import { findServer, isExecutableFile, type LookupEnv } from '../serverPath';

const posix: LookupEnv = { path: '/usr/local/bin:/home/w/.cargo/bin', platform: 'linux', home: '/home/w', cwd: '/work/docs' };
const existing = (...files: string[]) => (file: string) => files.includes(file);

describe('findServer', () => {
  it('looks a bare name up on PATH, in order', () => {
    assert.equal(findServer('precedent', posix, existing('/home/w/.cargo/bin/precedent')), '/home/w/.cargo/bin/precedent');
    assert.equal(
      findServer('precedent', posix, existing('/usr/local/bin/precedent', '/home/w/.cargo/bin/precedent')),
      '/usr/local/bin/precedent',
    );
  });

  it('uses "precedent" when the setting is empty', () => {
    assert.equal(findServer('  ', posix, existing('/usr/local/bin/precedent')), '/usr/local/bin/precedent');
    assert.equal(findServer(undefined, posix, existing('/usr/local/bin/precedent')), '/usr/local/bin/precedent');
  });

  it('returns undefined when the binary is nowhere', () => {
    assert.equal(findServer('precedent', posix, existing()), undefined);
    assert.equal(findServer('precedent', { ...posix, path: undefined }, existing('/usr/local/bin/precedent')), undefined);
  });

  it('never takes a binary from the current directory through an empty or relative PATH entry', () => {
    const env = { ...posix, path: ':.:bin' };
    assert.equal(findServer('precedent', env, () => true), undefined);
  });

  it('takes a path as is, expanding ~ and resolving relative paths against the workspace', () => {
    assert.equal(findServer('/opt/p/precedent', posix, existing('/opt/p/precedent')), '/opt/p/precedent');
    assert.equal(findServer('~/bin/precedent', posix, existing('/home/w/bin/precedent')), '/home/w/bin/precedent');
    assert.equal(findServer('target/release/precedent', posix, existing('/work/docs/target/release/precedent')), '/work/docs/target/release/precedent');
    assert.equal(findServer('target/release/precedent', { ...posix, cwd: undefined }, () => true), undefined);
    assert.equal(findServer('/opt/p/precedent', posix, existing()), undefined);
  });

  it('tries PATHEXT on Windows', () => {
    const win: LookupEnv = { path: 'C:\\tools;C:\\Users\\w\\.cargo\\bin', pathExt: '.COM;.EXE', platform: 'win32', home: 'C:\\Users\\w' };
    assert.equal(findServer('precedent', win, existing('C:\\Users\\w\\.cargo\\bin\\precedent.exe')), 'C:\\Users\\w\\.cargo\\bin\\precedent.exe');
    assert.equal(findServer('C:\\p\\precedent.exe', win, existing('C:\\p\\precedent.exe')), 'C:\\p\\precedent.exe');
  });
});

describe('isExecutableFile', { skip: process.platform === 'win32' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'precedent-vscode-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('accepts an executable file and rejects a plain file and a directory', () => {
    const exe = path.join(dir, 'precedent');
    fs.writeFileSync(exe, '#!/bin/sh\n', { mode: 0o755 });
    const plain = path.join(dir, 'notes.txt');
    fs.writeFileSync(plain, 'text', { mode: 0o644 });
    assert.equal(isExecutableFile(exe), true);
    assert.equal(isExecutableFile(plain), false);
    assert.equal(isExecutableFile(dir), false);
    assert.equal(isExecutableFile(path.join(dir, 'missing')), false);
    assert.equal(findServer('precedent', { path: dir, platform: process.platform, home: os.homedir() }), exe);
  });
});
