// Files of the repository as the package tests compare them with what npm packed.
import fs from 'node:fs';
import path from 'node:path';

/** Every file under `dir` of `root`, as a path from `root` with forward slashes (as npm lists them). */
export function filesUnder(root: string, dir: string): string[] {
  return fs
    .readdirSync(path.join(root, dir), { withFileTypes: true })
    .flatMap((entry) => (entry.isDirectory() ? filesUnder(root, `${dir}/${entry.name}`) : [`${dir}/${entry.name}`]));
}
