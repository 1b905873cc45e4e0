// Search like the TensorBoard projector: by index, class name or any column value, as a
// case-insensitive substring, whole word, exact value or regular expression (MATCH_MODES); the
// matches can then be selected.
import { columnText } from './columns.js';

/** Fields a query can run over: 'all', 'index', then column names. */
export function searchFields(view) {
  const out = [['all', 'all fields'], ['index', 'index']];
  for (const col of view.columns.values()) {
    if (col.name === 'correct' || col.name === 'changed') continue;
    out.push([col.name, col.title]);
  }
  return out;
}

/** Parse "12", "#12", "3, 7, 10-20" into indices (null when the query is not such a list). */
export function parseIndexQuery(query, N) {
  const parts = query.split(',').map((s) => s.trim().replace(/^#/, '')).filter(Boolean);
  if (!parts.length || !parts.every((p) => /^\d+(\s*-\s*\d+)?$/.test(p))) return null;
  const out = new Set();
  for (const p of parts) {
    const [a, b = a] = p.split('-').map((s) => Number.parseInt(s, 10));
    for (let i = Math.min(a, b); i <= Math.min(Math.max(a, b), N - 1); i++) out.add(i);
  }
  return out;
}

/** How a query matches a value: [mode, label shown in the search bar's list]. */
export const MATCH_MODES = [
  ['contains', 'contains'],
  ['word', 'whole word'],
  ['exact', 'exact value'],
  ['regex', 'regex'],
];

const escapeRegex = (q) => q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A case-insensitive test of values against `query`:
 * 'contains' — a substring; 'word' — whole words, where a word is a run of characters between
 * spaces or the ends ("Shirt" matches "Shirt" and "Dress Shirt", not "T-shirt/top"; "boot" matches
 * "Ankle boot"); 'exact' — the whole value ("Shirt" matches only "Shirt"); 'regex' — a regular
 * expression (throws on a bad pattern: the caller shows it).
 */
export function matcher(query, mode = 'contains') {
  const q = query.trim();
  if (mode === 'regex') {
    const re = new RegExp(q, 'i');
    return (s) => re.test(s);
  }
  const lower = q.toLowerCase();
  if (mode === 'exact') return (s) => s.trim().toLowerCase() === lower;
  if (mode === 'word') {
    const re = new RegExp(`(^|\\s)${escapeRegex(q)}(?=\\s|$)`, 'i');
    return (s) => re.test(s);
  }
  return (s) => s.toLowerCase().includes(lower);
}

/**
 * Indices of the samples matching `query` in `field` at epoch position `pos`, ascending.
 * @returns {Uint32Array}
 */
export function findMatches(view, query, { field = 'all', mode = 'contains', pos = view.pos } = {}) {
  const { N } = view.d;
  const q = query.trim();
  if (!q) return new Uint32Array(0);
  const hit = new Uint8Array(N);
  if (field === 'all' || field === 'index') {
    const ids = parseIndexQuery(q, N);
    if (ids) for (const i of ids) hit[i] = 1;
    if (field === 'index') return Uint32Array.from(ids ?? []);
  }
  const test = matcher(q, mode);
  const cols = field === 'all'
    ? [...view.columns.values()].filter((c) => c.name !== 'correct' && c.name !== 'changed' && c.name !== 'confidence')
    : [view.columns.get(field)].filter(Boolean);
  for (const col of cols) {
    const values = col.values(pos);
    if (col.kind === 'categorical') {
      const ok = col.categories.map((c) => test(c));
      for (let i = 0; i < N; i++) if (ok[values[i]]) hit[i] = 1;
    } else {
      for (let i = 0; i < N; i++) if (!hit[i] && test(columnText(col, i, pos))) hit[i] = 1;
    }
  }
  const out = [];
  for (let i = 0; i < N; i++) if (hit[i]) out.push(i);
  return Uint32Array.from(out);
}
