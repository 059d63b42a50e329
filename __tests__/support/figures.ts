// Records the figures of a reliability scenario's last run in reliability/results.json, from
// which `npm run reliability` renders RELIABILITY.md.
import fs from 'node:fs';
import path from 'node:path';

const file = path.join(__dirname, '..', '..', 'reliability', 'results.json');

/** Stores (replacing) the figures of one scenario. */
export function recordFigures(scenario: string, figures: Record<string, number | string>): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let all: Record<string, unknown> = {};
  try {
    all = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    all = {};
  }
  all[scenario] = { ...figures, ranAt: new Date().toISOString() };
  fs.writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
}
