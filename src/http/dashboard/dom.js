import { localTimes, toBase } from './format.js';
import { state } from './api.js';

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/** A heading with a count, then a table of `rows` (or a note when there are none). */
export function section(id, title, empty, headers, rows, row) {
  return [
    el('h3', {}, `${title} (${rows.length})`),
    rows.length === 0
      ? el('p', { class: 'muted' }, empty)
      : el('table', { id }, el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows.map(row))),
  ];
}

/** Shows the outcome of an action in plain words beside its form: what happened, or why not (outcome: ok, refused or working). */
export function tell(id, text, outcome) {
  const box = document.getElementById(id);
  box.hidden = false;
  box.textContent = text;
  box.className = `result ${outcome === 'refused' ? 'error' : 'ok'}`;
  box.dataset.outcome = outcome;
}

/** The latest action per result box: an older action that ends later does not overwrite a newer one's outcome. */
const latest = new Map();

/** Runs an action with its button disabled; its result or refusal goes to `#id`; the views refresh. */
export async function act(id, run, button) {
  const turn = (latest.get(id) ?? 0) + 1;
  latest.set(id, turn);
  const mine = () => latest.get(id) === turn;
  if (button) button.disabled = true;
  tell(id, 'Working…', 'working');
  try {
    const done = await run();
    // The views show the change before the action reports it: what follows sees it.
    await state.refresh().catch(console.error);
    if (mine()) tell(id, done, 'ok');
  } catch (e) {
    if (mine()) tell(id, `Refused: ${localTimes(e.message)}`, 'refused');
  } finally {
    if (button) button.disabled = false;
  }
}

/** Whether a thrown error is about the amount typed, said in plain words. */
export function amountOf(input, what) {
  const v = toBase(document.getElementById(input).value);
  if (v === null) throw new Error(`${what} must be a positive amount in USDC, e.g. 1000 or 250.50`);
  return v;
}

export function showError(e) {
  const box = document.getElementById('signin-error');
  box.hidden = !e;
  box.textContent = e ? `Sign-in failed: ${e.message}` : '';
}
