'use strict';
// Draws bench/results.svg from the bench results: one panel per scenario, one bar per
// contender, each panel on its own scale, the native router's bars highlighted.

const WIDTH = 820;
const BAR = 18;
const GAP = 6;
const LABEL = 330;

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const format = (v) => (v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(1));

/** The headline figure of a row: its rate, p50, bytes or CPU per message. */
function headline(figures) {
  for (const key of ['rate', 'p50', 'bytes', 'µs per message']) if (figures[key] !== undefined) return [key, figures[key]];
  return ['', 0];
}

function drawChart(results) {
  const parts = [];
  let y = 40;
  for (const scenario of Object.values(results.scenarios)) {
    const rows = Object.entries(scenario.rows).map(([name, figures]) => [name, ...headline(figures)]);
    const max = Math.max(...rows.map((r) => r[2]));
    const baseline = rows.find((r) => r[0] === 'baseline');
    parts.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${escape(scenario.title)}${scenario.lowerIsBetter ? ' — lower is better' : ' — higher is better'}</text>`);
    y += 10;
    for (const [name, key, value] of rows) {
      const width = max > 0 ? ((WIDTH - LABEL - 200) * value) / max : 0;
      const colour = name.startsWith('native') ? '#2b6cb0' : name.startsWith('baseline') ? '#c05621' : '#718096';
      parts.push(`<text x="10" y="${y + BAR - 5}" font-size="12">${escape(name)}</text>`);
      parts.push(`<rect x="${LABEL}" y="${y}" width="${width.toFixed(1)}" height="${BAR}" fill="${colour}"/>`);
      let ratio = '';
      if (baseline && name.startsWith('native') && value > 0) {
        const times = scenario.lowerIsBetter ? baseline[2] / value : value / baseline[2];
        ratio = `  (${times.toFixed(1)} × baseline)`;
      }
      parts.push(`<text x="${(LABEL + width + 6).toFixed(1)}" y="${y + BAR - 5}" font-size="12">${escape(format(value))} ${escape(key === 'rate' ? '/s' : key === 'p50' ? 'µs p50' : 'B')}${escape(ratio)}</text>`);
      y += BAR + GAP;
    }
    y += 24;
  }
  const header = `Machine: ${results.machine.cores} cores, Node ${results.machine.node}, Redis ${results.machine.redis}; median of ${results.machine.rounds} alternating rounds`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="12" fill="#4a5568">${escape(header)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

module.exports = { drawChart };
