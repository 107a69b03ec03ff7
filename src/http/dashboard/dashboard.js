// The dashboard: plain browser JavaScript modules against the public GraphQL API, refreshed
// live by its subscriptions (Server-Sent Events). Nothing is loaded from elsewhere. This is
// the page's entry (index.html): the market, the account, trading, the browser wallet and the
// session each have their module; api.js holds what the page knows (`state`).
import { state, subscribe } from './api.js';
import { el } from './dom.js';
import { render } from './market.js';
import { renderMine } from './account.js';
import { setUpSignIn } from './session.js';
import { setUpRoles } from './provider.js';

/** The market's streams: every new value or incident renders the views again. */
function live() {
  const badge = document.getElementById('live');
  for (const query of ['subscription { riskObserved { id } }', 'subscription { incidentUpdated { id } }']) {
    subscribe(query, {
      onOpen: () => {
        badge.textContent = 'live';
        badge.classList.add('on');
      },
      onNext: () => {
        void render().catch(console.error);
        if (state.session) void renderMine().catch(console.error);
      },
      onDown: () => badge.classList.remove('on'),
    });
  }
}

/** After an action, and when the account's stream says so: both views again. */
state.refresh = () => Promise.all([render(), renderMine()]);
state.refreshMine = renderMine;

/** What this server offers the page (GET /dashboard.json: whether the demo's routes exist), then the page. */
fetch('/dashboard.json')
  .then((res) => (res.ok ? res.json() : state.serverInfo))
  .then((info) => {
    state.serverInfo = info;
    setUpRoles();
    return render();
  })
  .then(() => {
    live();
    return setUpSignIn();
  })
  .catch((e) => {
    document.body.append(el('p', {}, `Could not load: ${e.message}`));
  });
