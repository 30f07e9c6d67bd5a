'use strict';
// A memory cgroup for one process under test: a container's memory limit without a container runtime.
//
// Why it matters here: Node hands V8 the cgroup's limit (`process.constrainedMemory()`) in place of the
// machine's memory, and V8 sizes both generations from it. On the 24 GiB bench machine the young
// generation grows to 128 MB under load; in a 1 GiB container V8 gives it 32 MB. So the peak RSS an
// operator sees in a container is not the one measured on the bare machine.
//
// Needs root and a writable memory controller: cgroup v2 (`/sys/fs/cgroup/cgroup.controllers` lists
// `memory`) or v1 (`/sys/fs/cgroup/memory`). Anything else throws with the reason.
const { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const V2_ROOT = '/sys/fs/cgroup';
const V1_ROOT = '/sys/fs/cgroup/memory';

/** "1G", "768M", "1073741824" → bytes. */
function parseBytes(text) {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]i?B?)?$/i.exec(String(text).trim());
  if (!m) throw new Error(`not a memory size: ${text} (use e.g. 1G or 768M)`);
  const unit = (m[2] ?? '').toUpperCase()[0];
  const bytes = Math.round(Number(m[1]) * (unit === 'G' ? 2 ** 30 : unit === 'M' ? 2 ** 20 : unit === 'K' ? 2 ** 10 : 1));
  if (bytes < 64 * 2 ** 20) throw new Error(`a memory limit of ${text} is below 64 MiB: the service cannot start in it`);
  return bytes;
}

function v2HasMemory() {
  try {
    return readFileSync(join(V2_ROOT, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory');
  } catch {
    return false;
  }
}

/**
 * Creates a memory cgroup limited to `bytes` (a fresh one per call; `remove()` once its process has
 * exited). `procsFile` is where a process writes its pid to join it.
 */
function createMemoryCgroup(name, bytes) {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('a memory cgroup needs root');
  const leaf = `nra-bench-${name}-${process.pid}-${Date.now().toString(36)}`;
  let dir;
  let limitFile;
  if (v2HasMemory()) {
    // The parent must hand the memory controller to its children.
    const control = join(V2_ROOT, 'cgroup.subtree_control');
    if (!readFileSync(control, 'utf8').split(/\s+/).includes('memory')) writeFileSync(control, '+memory');
    dir = join(V2_ROOT, leaf);
    limitFile = 'memory.max';
  } else if (existsSync(join(V1_ROOT, 'memory.limit_in_bytes'))) {
    dir = join(V1_ROOT, leaf);
    limitFile = 'memory.limit_in_bytes';
  } else {
    throw new Error('no writable memory cgroup controller (neither cgroup v2 with memory nor v1 /sys/fs/cgroup/memory)');
  }
  mkdirSync(dir);
  try {
    writeFileSync(join(dir, limitFile), String(bytes));
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  return {
    bytes,
    dir,
    procsFile: join(dir, 'cgroup.procs'),
    remove() {
      try {
        rmdirSync(dir);
      } catch {
        /* still has a process, or already gone: the kernel keeps an empty one harmlessly */
      }
    },
  };
}

module.exports = { createMemoryCgroup, parseBytes };
