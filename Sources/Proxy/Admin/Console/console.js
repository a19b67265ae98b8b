// Switchboard web console.
//
// A single page application without a build step. index.html loads this file;
// it builds every page with the DOM API and talks to the admin API (/v1/...)
// with the token the operator signed in with.
//
// Ground rules for whoever edits this file:
//  - Anything that came from a user, the route store or a recording is put on
//    the page with textContent (through el() below), never as HTML.
//    Terminal output goes only to the terminal.
//  - The page's Content-Security-Policy forbids inline scripts and inline
//    event handlers: listeners are attached here with addEventListener.
//  - Writing controls (end, add, edit, delete, ...) are not created at all for
//    a read-only token.
//
// Pages are chosen by the URL's hash (#/sessions, #/routes/alice/edit, ...);
// see PAGES near the end of the file.

'use strict';

(function () {

  // ------------------------------------------------------------------ state

  // The token is kept for this browser tab only: not in localStorage, not in
  // a cookie.
  const TOKEN_KEY = 'switchboard.console.token';

  // Who is signed in: {name, read_only} from GET /v1/whoami, or null.
  let identity = null;

  // What the page on screen started (requests, timers, a terminal), so that
  // leaving the page stops all of it. See startPage() and leavePage().
  let page = null;

  // Counts calls of render(), so that a slow render that was overtaken by a
  // newer one gives up.
  let renderCount = 0;

  // The past sessions page's filter, kept while the console is open.
  const historyFilter = { user: '', since: '' };

  // A message for the top of the next page ("Route alice added.").
  let pendingMessage = null;

  const REFRESH_MS = 2000;       // live sessions refresh
  const MAX_PAUSE_SECONDS = 2;   // replay: longer pauses are cut to this

  // ------------------------------------------------------------- DOM helpers

  // Creates an element. `attrs` may hold: class, text (set as textContent),
  // dataset ({key: value} -> data-key="value"), on ({click: fn}), value,
  // checked, hidden, disabled, and any other attribute by name.
  // `children` are nodes or strings (strings become text nodes).
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'on') {
        for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
      } else if (key === 'value') node.value = value;
      else if (key === 'checked' || key === 'hidden' || key === 'disabled') node[key] = true;
      else node.setAttribute(key, value);
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    }
    return node;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  // A button. `action` becomes data-action (the browser test finds buttons by it).
  function button(label, action, onClick, className) {
    return el('button', {
      type: 'button',
      class: className,
      dataset: action ? { action: action } : undefined,
      text: label,
      on: { click: onClick },
    });
  }

  // A table with a header row; returns {table, body}.
  function makeTable(id, headings) {
    const headRow = el('tr', {}, headings.map(function (heading) {
      const numeric = heading.endsWith('#');
      return el('th', { class: numeric ? 'number' : undefined, text: numeric ? heading.slice(0, -1) : heading });
    }));
    const body = el('tbody');
    const table = el('table', { id: id }, [el('thead', {}, [headRow]), body]);
    return { table: table, body: body };
  }

  // A table cell; data-field names it for the browser test.
  function cell(field, content, className) {
    const td = el('td', { class: className, dataset: { field: field } });
    if (content instanceof Node) td.appendChild(content);
    else td.textContent = content === undefined || content === null ? '' : String(content);
    return td;
  }

  function emptyRow(columns, text) {
    return el('tr', {}, [el('td', { colspan: String(columns), class: 'empty', text: text })]);
  }

  // A message box at the top of the page. kind: 'ok', 'error' or undefined.
  function messageBox(id, text, kind) {
    return el('div', { id: id, class: 'message' + (kind ? ' ' + kind : ''), role: 'status', text: text });
  }

  function showMessage(box, text, kind) {
    box.replaceChildren(document.createTextNode(text));
    box.className = 'message' + (kind ? ' ' + kind : '');
    box.hidden = !text;
  }

  // ---------------------------------------------------------------- formats

  // Any API value as display text: null -> '', arrays joined, booleans yes/no.
  function displayText(value) {
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) return value.map(displayText).join(', ');
    if (typeof value === 'boolean') return value ? 'yes' : 'no';
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  }

  function pad2(number) {
    return String(number).padStart(2, '0');
  }

  // "2026-11-28 03:13:03" in the browser's time zone.
  function formatTime(iso) {
    if (!iso) return '';
    const date = new Date(iso);
    if (isNaN(date.getTime())) return String(iso);
    return date.getFullYear() + '-' + pad2(date.getMonth() + 1) + '-' + pad2(date.getDate()) + ' ' +
      pad2(date.getHours()) + ':' + pad2(date.getMinutes()) + ':' + pad2(date.getSeconds());
  }

  // "12s", "3m 12s", "2h 5m", "3d 4h".
  function formatDuration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    if (seconds < 60) return seconds + 's';
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + 'm ' + (seconds % 60) + 's';
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return hours + 'h ' + (minutes % 60) + 'm';
    return Math.floor(hours / 24) + 'd ' + (hours % 24) + 'h';
  }

  function formatAgo(iso) {
    const time = new Date(iso).getTime();
    if (isNaN(time)) return '';
    return formatDuration((Date.now() - time) / 1000) + ' ago';
  }

  function formatBytes(count) {
    if (count === null || count === undefined) return '';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = Number(count);
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return (unit === 0 ? String(value) : value.toFixed(1)) + ' ' + units[unit];
  }

  // host:port, with brackets around an IPv6 address.
  function hostPort(host, port) {
    if (!host) return '';
    const shown = String(host).includes(':') ? '[' + host + ']' : String(host);
    return port === null || port === undefined ? shown : shown + ':' + port;
  }

  function sessionFrom(session) {
    return hostPort(session.client_address, session.client_port);
  }

  function sessionTo(session) {
    const target = hostPort(session.upstream_host, session.upstream_port);
    return session.upstream_user ? session.upstream_user + '@' + target : target;
  }

  // A path segment: like encodeURIComponent, and also encodes ! ' ( ) *
  // (the catch-all route "*" is "%2A" in the API's paths).
  function pathSegment(text) {
    return encodeURIComponent(text).replace(/[!'()*]/g, function (c) {
      return '%' + c.charCodeAt(0).toString(16).toUpperCase();
    });
  }

  // ---------------------------------------------------------------- the API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function isAbort(error) {
    return error && error.name === 'AbortError';
  }

  function storedToken() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // The API's {"error": {"code", "message"}} as an ApiError.
  async function errorFromResponse(response) {
    const text = await response.text().catch(function () { return ''; });
    try {
      const body = JSON.parse(text);
      if (body && body.error && body.error.message) {
        return new ApiError(response.status, body.error.code || '', body.error.message);
      }
    } catch (ignored) {
      // not JSON: use the status line below
    }
    return new ApiError(response.status, '', 'HTTP ' + response.status + ' ' + response.statusText);
  }

  // Sends one request and returns the Response when it succeeded (2xx).
  // options: body (sent as JSON), signal, accept, token (instead of the
  // stored one: the sign-in check). A 401 with the stored token signs out.
  async function request(method, path, options) {
    options = options || {};
    const token = options.token || storedToken();
    const headers = { 'Accept': options.accept || 'application/json' };
    if (token) headers['Authorization'] = 'Bearer ' + token;
    let body;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    let response;
    try {
      response = await fetch(path, {
        method: method, headers: headers, body: body, signal: options.signal, cache: 'no-store',
      });
    } catch (error) {
      if (isAbort(error)) throw error;
      throw new ApiError(0, 'network', 'The proxy could not be reached (' + error.message + ').');
    }
    if (response.ok) return response;
    const failure = await errorFromResponse(response);
    if (response.status === 401 && !options.token) {
      signOut('Your token was not accepted any more (' + failure.message + '). Please sign in again.', 'error');
    }
    throw failure;
  }

  // Like request(), and returns the parsed JSON answer (null when empty).
  async function api(method, path, options) {
    const response = await request(method, path, options);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  // A query string from an object, leaving out empty values.
  function query(params) {
    const parts = [];
    for (const [key, value] of Object.entries(params)) {
      if (value === '' || value === null || value === undefined) continue;
      parts.push(encodeURIComponent(key) + '=' + encodeURIComponent(value));
    }
    return parts.length ? '?' + parts.join('&') : '';
  }

  // ------------------------------------------------------------------ pages

  // Clears <main> and starts a page: `signal` aborts its requests when the
  // page is left, `timers` are cleared, `cleanups` are run.
  function startPage() {
    leavePage();
    const main = byId('main');
    main.replaceChildren();
    const controller = new AbortController();
    page = { main: main, controller: controller, signal: controller.signal, timers: [], cleanups: [] };
    if (pendingMessage) {
      main.appendChild(messageBox('flash', pendingMessage.text, pendingMessage.kind));
      pendingMessage = null;
    }
    return page;
  }

  function leavePage() {
    if (!page) return;
    const old = page;
    page = null;
    old.controller.abort();
    old.timers.forEach(function (timer) { clearInterval(timer); });
    old.cleanups.forEach(function (cleanup) {
      try { cleanup(); } catch (error) { console.warn('cleanup failed', error); }
    });
  }

  function isCurrent(p) {
    return page === p;
  }

  function repeat(p, milliseconds, fn) {
    p.timers.push(setInterval(fn, milliseconds));
  }

  function onLeave(p, fn) {
    p.cleanups.push(fn);
  }

  function readOnly() {
    return !identity || identity.read_only;
  }

  function heading(text) {
    return el('h1', { text: text });
  }

  // An error in place of a page's content.
  function pageError(p, text) {
    p.main.appendChild(messageBox('page-error', text, 'error'));
  }

  // ---------------------------------------------------------------- sign in

  function showHeader() {
    byId('app-header').hidden = false;
    byId('whoami-name').textContent = identity.name;
    byId('whoami-mode').hidden = !identity.read_only;
    const current = currentPath().split('/')[1] || '';
    for (const link of document.querySelectorAll('.nav a')) {
      link.classList.toggle('active', link.dataset.nav === current);
    }
  }

  function signOut(message, kind) {
    sessionStorage.removeItem(TOKEN_KEY);
    identity = null;
    renderCount += 1; // a render in progress must not draw over the sign-in page
    showSignIn(message, kind);
  }

  function showSignIn(message, kind) {
    byId('app-header').hidden = true;
    const p = startPage();
    const tokenInput = el('input', {
      type: 'password', id: 'token', name: 'token', autocomplete: 'off', spellcheck: 'false',
      placeholder: 'sbt_…', 'aria-label': 'Admin API token',
    });
    const submit = el('button', { type: 'submit', id: 'sign-in', text: 'Sign in' });
    const error = el('p', { id: 'sign-in-error', class: kind === 'error' ? 'error' : 'muted', role: 'alert', text: message || '' });
    error.hidden = !message;
    const form = el('form', { id: 'sign-in-form', class: 'sign-in' }, [
      heading('Switchboard console'),
      el('p', { text: 'Sign in with an admin API token. It is kept in this browser tab only and sent with each request.' }),
      el('div', { class: 'form-row' }, [tokenInput, submit]),
      error,
    ]);
    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      const token = tokenInput.value.trim();
      if (!token) {
        showSignInError(error, 'Enter a token.');
        return;
      }
      submit.disabled = true;
      try {
        const who = await api('GET', '/v1/whoami', { token: token, signal: p.signal });
        sessionStorage.setItem(TOKEN_KEY, token);
        identity = who;
        render();
      } catch (failure) {
        if (isAbort(failure)) return;
        showSignInError(error, failure.status === 401 ? 'That token was not accepted.' : failure.message);
      } finally {
        submit.disabled = false;
      }
    });
    p.main.appendChild(form);
    tokenInput.focus();
  }

  function showSignInError(element, text) {
    element.textContent = text;
    element.className = 'error';
    element.hidden = false;
  }

  // ---------------------------------------------------------- live sessions

  function showLiveSessions(p) {
    p.main.appendChild(heading('Live sessions'));
    const status = el('p', { id: 'sessions-status', class: 'muted', text: 'Loading…' });
    const notice = messageBox('sessions-message', '', undefined);
    notice.hidden = true;
    const { table, body } = makeTable('sessions-table',
      ['ID', 'Login', 'From', 'To', 'Node', 'Since', 'In#', 'Out#', '']);
    p.main.append(notice, table, status);

    const rows = new Map(); // session id -> its <tr>
    let busy = false;

    async function refresh() {
      if (busy) return;
      busy = true;
      try {
        const answer = await api('GET', '/v1/sessions?active=true', { signal: p.signal });
        if (!isCurrent(p)) return;
        updateLiveRows(body, rows, answer.sessions || [], notice, refresh);
        status.textContent = 'Refreshed every 2 seconds; last at ' + formatTime(new Date().toISOString()) + '.';
        status.className = 'muted';
      } catch (error) {
        if (isAbort(error) || !isCurrent(p)) return;
        status.textContent = 'Could not refresh: ' + error.message;
        status.className = 'error';
      } finally {
        busy = false;
      }
    }

    refresh();
    repeat(p, REFRESH_MS, refresh);
  }

  // Updates the table in place (so buttons stay where they are while the
  // operator aims at them): new sessions get a row, ended ones lose theirs.
  function updateLiveRows(body, rows, sessions, notice, refresh) {
    const seen = new Set();
    for (const session of sessions) {
      const id = String(session.id);
      seen.add(id);
      let row = rows.get(id);
      if (!row) {
        row = liveSessionRow(session, notice, refresh);
        rows.set(id, row);
      }
      fillLiveRow(row, session, notice, refresh);
      body.appendChild(row); // keeps the API's order (newest first)
    }
    for (const [id, row] of rows) {
      if (!seen.has(id)) {
        row.remove();
        rows.delete(id);
      }
    }
    const placeholder = body.querySelector('tr.placeholder');
    if (sessions.length === 0 && !placeholder) {
      const empty = emptyRow(9, 'No live sessions.');
      empty.classList.add('placeholder');
      body.appendChild(empty);
    } else if (sessions.length > 0 && placeholder) {
      placeholder.remove();
    }
  }

  function liveSessionRow(session) {
    return el('tr', { dataset: { sessionId: String(session.id) } }, [
      cell('id', session.id),
      cell('login', session.login),
      cell('from', sessionFrom(session)),
      cell('to', sessionTo(session)),
      cell('node', ''),
      cell('since', ''),
      cell('bytes-in', '', 'number'),
      cell('bytes-out', '', 'number'),
      cell('actions', '', 'actions'),
    ]);
  }

  function fillLiveRow(row, session, notice, refresh) {
    const field = function (name) { return row.querySelector('td[data-field="' + name + '"]'); };
    field('node').textContent = session.node_name || displayText(session.node_id);
    field('since').replaceChildren(
      document.createTextNode(formatTime(session.started_at)),
      el('span', { class: 'ago', text: formatAgo(session.started_at) }));
    setBytesCell(field('bytes-in'), session.bytes_to_upstream, 'sent by the user towards the upstream');
    setBytesCell(field('bytes-out'), session.bytes_to_client, 'sent by the upstream to the user');

    // The buttons only change when the session's "live" flag does.
    const actions = field('actions');
    const live = String(Boolean(session.live));
    if (actions.dataset.live === live) return;
    actions.dataset.live = live;
    actions.replaceChildren();
    if (session.live) {
      actions.appendChild(button('Watch', 'watch', function () {
        location.hash = '#/sessions/' + session.id + '/watch';
      }));
    }
    if (!readOnly()) {
      actions.appendChild(button('End', 'end', async function () {
        try {
          const ended = await endSession(session.id);
          if (ended) showMessage(notice, 'Session ' + session.id + ' ended.', 'ok');
        } catch (error) {
          showMessage(notice, 'Could not end session ' + session.id + ': ' + error.message, 'error');
        }
        refresh();
      }, 'danger'));
    }
  }

  function setBytesCell(td, count, meaning) {
    td.textContent = formatBytes(count);
    td.dataset.value = String(count === null || count === undefined ? '' : count);
    td.title = displayText(count) + ' bytes ' + meaning;
  }

  // Asks, then ends a session. Returns false when the operator said no.
  async function endSession(id) {
    if (!window.confirm('End session ' + id + '? The user\'s connection will be closed.')) return false;
    await api('DELETE', '/v1/sessions/' + pathSegment(String(id)));
    return true;
  }

  // ------------------------------------------------------------------ watch

  async function showWatch(p, id) {
    p.main.appendChild(heading('Session ' + id));
    const summary = el('p', { id: 'session-summary', class: 'muted' });
    const status = el('div', { id: 'status', class: 'status', role: 'status', text: 'connecting…' });
    const setStatus = function (text, kind) {
      status.textContent = text;
      status.className = 'status' + (kind ? ' ' + kind : '');
    };
    const toolbar = el('div', { class: 'toolbar' }, [
      el('a', { href: '#/sessions', class: 'button secondary', text: '← Live sessions' }),
    ]);
    if (!readOnly()) {
      toolbar.appendChild(button('End session', 'end', async function () {
        try {
          if (await endSession(id)) setStatus('session ended (ended by you)', 'ended');
        } catch (error) {
          setStatus('could not end the session: ' + error.message, 'error');
        }
      }, 'danger'));
    }
    const box = el('div', { id: 'terminal', class: 'terminal-box' });
    const kind = el('p', { id: 'terminal-kind', class: 'hint' });
    p.main.append(summary, toolbar, status, box, kind);

    describeSession(p, id, summary);
    const term = await createTerminal(p, box, kind, 80, 24);
    if (!isCurrent(p) || !term) return;
    watchStream(p, id, term, setStatus);
  }

  // "alice from 10.0.0.5:50111 to alice@10.1.0.7:22, since ..." above the terminal.
  async function describeSession(p, id, target) {
    try {
      const session = await api('GET', '/v1/sessions/' + pathSegment(String(id)), { signal: p.signal });
      target.textContent = session.login + ' from ' + sessionFrom(session) + ' to ' + sessionTo(session) +
        ', since ' + formatTime(session.started_at) + ' (' + formatAgo(session.started_at) + ')';
    } catch (error) {
      if (!isAbort(error)) target.textContent = error.message;
    }
  }

  // Reads the live stream of a session: server-sent events carried by fetch()
  // (EventSource cannot send the Authorization header). The first data is the
  // asciicast header, then one asciicast event per data; "event: end" last.
  async function watchStream(p, id, term, setStatus) {
    let response;
    try {
      response = await request('GET', '/v1/sessions/' + pathSegment(String(id)) + '/stream',
        { signal: p.signal, accept: 'text/event-stream' });
    } catch (error) {
      if (!isAbort(error)) setStatus('error: ' + error.message, 'error');
      return;
    }
    setStatus('watching live', 'live');
    let ended = false;
    const parser = new EventStreamParser(function (name, data) {
      if (name === 'end') {
        ended = true;
        const reason = parseJson(data, {}).reason;
        if (reason === 'too-slow') setStatus('dropped: too slow (the console fell behind the session\'s output)', 'error');
        else setStatus('session ended', 'ended');
        return;
      }
      if (name === 'message') applyStreamData(term, data);
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parser.push(decoder.decode(value, { stream: true }));
      }
      parser.push(decoder.decode());
      if (!ended && isCurrent(p)) setStatus('the stream closed', 'ended');
    } catch (error) {
      if (!isAbort(error) && isCurrent(p)) setStatus('error: ' + error.message, 'error');
    }
  }

  // One data of the stream: the header object sizes the terminal, an event
  // array is played.
  function applyStreamData(term, data) {
    const value = parseJson(data, null);
    if (Array.isArray(value)) applyCastEvent(term, value);
    else if (value && value.width && value.height) term.resize(value.width, value.height);
  }

  function parseJson(text, fallback) {
    try {
      return JSON.parse(text);
    } catch (ignored) {
      return fallback;
    }
  }

  // Plays one asciicast v2 event: [time, "o", text] or [time, "r", "COLSxROWS"].
  // Input ("i") and markers ("m") are not shown.
  function applyCastEvent(term, event) {
    const code = event[1];
    const data = event[2];
    if (code === 'o' && typeof data === 'string') {
      term.write(data);
    } else if (code === 'r' && typeof data === 'string') {
      const size = /^(\d+)x(\d+)$/.exec(data);
      if (size) term.resize(Number(size[1]), Number(size[2]));
    }
  }

  // Splits a text/event-stream into events: "field: value" lines, a blank line
  // ends an event, lines that start with ":" are comments (keepalives).
  // Calls onEvent(name, data) with name "message" unless an "event:" line
  // named it.
  class EventStreamParser {
    constructor(onEvent) {
      this.onEvent = onEvent;
      this.buffer = '';
      this.eventName = '';
      this.data = [];
    }

    push(text) {
      this.buffer += text;
      for (;;) {
        const match = /\r\n|\r|\n/.exec(this.buffer);
        if (!match) return;
        // A "\r" at the very end may be the first half of "\r\n": wait.
        if (match[0] === '\r' && match.index === this.buffer.length - 1) return;
        const line = this.buffer.slice(0, match.index);
        this.buffer = this.buffer.slice(match.index + match[0].length);
        this.line(line);
      }
    }

    line(line) {
      if (line === '') {
        this.dispatch();
        return;
      }
      if (line.startsWith(':')) return;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.eventName = value;
    }

    dispatch() {
      if (this.data.length > 0) this.onEvent(this.eventName || 'message', this.data.join('\n'));
      this.data = [];
      this.eventName = '';
    }
  }

  // --------------------------------------------------------------- terminal

  // xterm.js is loaded once, by the first page that shows a terminal. The
  // proxy serves it from Debian's own copy (node-xterm's modules, joined at
  // start); the promise gives its Terminal class, or null when it is missing.
  let xtermLoading = null;

  function loadXterm() {
    if (!xtermLoading) {
      xtermLoading = new Promise(function (resolve) {
        document.head.appendChild(el('link', { rel: 'stylesheet', href: 'xterm/xterm.css' }));
        const script = el('script', { src: 'xterm/xterm.js' });
        script.addEventListener('load', function () {
          resolve(typeof window.Terminal === 'function' ? window.Terminal : null);
        });
        script.addEventListener('error', function () { resolve(null); });
        document.head.appendChild(script);
      });
    }
    return xtermLoading;
  }

  // An xterm.js terminal in `container`, or null (with the reason shown in
  // `kindNote`) when xterm.js could not be loaded.
  async function createTerminal(p, container, kindNote, cols, rows) {
    const Xterm = await loadXterm();
    if (!Xterm) {
      kindNote.textContent = 'xterm.js is missing on the proxy: install Debian\'s node-xterm and libjs-xterm packages.';
      return null;
    }
    // The DOM renderer keeps the screen's text in the page (the canvas
    // renderer would paint it), which the browser test reads.
    const term = new Xterm({
      cols: cols, rows: rows, rendererType: 'dom', disableStdin: true, scrollback: 5000,
      cursorBlink: false, fontSize: 13,
    });
    term.open(container);
    container.dataset.terminal = 'xterm';
    onLeave(p, function () { term.dispose(); });
    return term;
  }

  // ----------------------------------------------------------- past sessions

  function showHistory(p) {
    p.main.appendChild(heading('Past sessions'));
    const userInput = el('input', { type: 'text', id: 'history-user', placeholder: 'any login', value: historyFilter.user });
    const sinceInput = el('input', { type: 'text', id: 'history-since', placeholder: 'e.g. 1h, 7d', value: historyFilter.since });
    const form = el('form', { id: 'history-filter', class: 'toolbar' }, [
      el('label', {}, ['User ', userInput]),
      el('label', {}, ['Since ', sinceInput]),
      el('button', { type: 'submit', id: 'history-apply', text: 'Show' }),
    ]);
    const status = el('p', { id: 'history-status', class: 'muted' });
    const { table, body } = makeTable('history-table',
      ['ID', 'Login', 'From', 'To', 'Started', 'Ended', 'Exit', 'End reason', 'In#', 'Out#', '']);
    p.main.append(form, status, table);

    async function load() {
      status.textContent = 'Loading…';
      status.className = 'muted';
      const path = '/v1/sessions' + query({ limit: 100, user: historyFilter.user, since: historyFilter.since });
      try {
        const answer = await api('GET', path, { signal: p.signal });
        const sessions = answer.sessions || [];
        body.replaceChildren(...sessions.map(historyRow));
        if (sessions.length === 0) body.appendChild(emptyRow(11, 'No sessions match.'));
        status.textContent = sessions.length + ' session' + (sessions.length === 1 ? '' : 's') + ', newest first.';
      } catch (error) {
        if (isAbort(error)) return;
        status.textContent = 'Could not load the sessions: ' + error.message;
        status.className = 'error';
      }
    }

    form.addEventListener('submit', function (event) {
      event.preventDefault();
      historyFilter.user = userInput.value.trim();
      historyFilter.since = sinceInput.value.trim();
      load();
    });
    load();
  }

  function historyRow(session) {
    const running = !session.ended_at;
    const actions = cell('actions', '', 'actions');
    if (session.has_recording) {
      actions.appendChild(button('Replay', 'replay', function () {
        location.hash = '#/history/' + session.id + '/replay';
      }, 'secondary'));
    }
    if (running && session.live) {
      actions.appendChild(button('Watch', 'watch', function () {
        location.hash = '#/sessions/' + session.id + '/watch';
      }, 'secondary'));
    }
    const bytesIn = cell('bytes-in', '', 'number');
    const bytesOut = cell('bytes-out', '', 'number');
    setBytesCell(bytesIn, session.bytes_to_upstream, 'sent by the user towards the upstream');
    setBytesCell(bytesOut, session.bytes_to_client, 'sent by the upstream to the user');
    return el('tr', { dataset: { sessionId: String(session.id) } }, [
      cell('id', session.id),
      cell('login', session.login),
      cell('from', sessionFrom(session)),
      cell('to', sessionTo(session)),
      cell('started', formatTime(session.started_at)),
      cell('ended', running ? 'running' : formatTime(session.ended_at)),
      cell('exit-status', displayText(session.exit_status)),
      cell('end-reason', displayText(session.end_reason)),
      bytesIn,
      bytesOut,
      actions,
    ]);
  }

  // ------------------------------------------------------------------ replay

  async function showReplay(p, id) {
    p.main.appendChild(heading('Recording of session ' + id));
    const status = el('div', { id: 'status', class: 'status', role: 'status', text: 'loading the recording…' });
    const setStatus = function (text, kind) {
      status.textContent = text;
      status.className = 'status' + (kind ? ' ' + kind : '');
    };
    const playButton = el('button', { type: 'button', id: 'replay-play', dataset: { action: 'play' }, text: 'Pause', disabled: true });
    const restartButton = el('button', { type: 'button', id: 'replay-restart', class: 'secondary', dataset: { action: 'restart' }, text: 'Restart', disabled: true });
    const speedButtons = [1, 2, 4].map(function (speed) {
      return el('button', {
        type: 'button', class: 'secondary' + (speed === 1 ? ' active' : ''),
        dataset: { speed: String(speed) }, text: speed + '×',
      });
    });
    const download = el('a', { id: 'replay-download', class: 'button secondary', text: 'Download .cast', hidden: true });
    p.main.append(
      el('div', { class: 'toolbar' }, [
        el('a', { href: '#/history', class: 'button secondary', text: '← Past sessions' }),
        playButton, restartButton, el('span', { class: 'muted', text: 'Speed' }), ...speedButtons, download,
      ]),
      status);
    const box = el('div', { id: 'terminal', class: 'terminal-box' });
    const kind = el('p', { id: 'terminal-kind', class: 'hint' });
    p.main.append(box, kind);

    let cast;
    let term;
    try {
      const response = await request('GET', '/v1/sessions/' + pathSegment(String(id)) + '/recording',
        { signal: p.signal, accept: 'application/x-asciicast' });
      const blob = await response.blob();
      cast = parseCast(await blob.text());
      // The download link hands over the very bytes fetched with the token.
      const url = URL.createObjectURL(blob);
      onLeave(p, function () { URL.revokeObjectURL(url); });
      download.href = url;
      download.setAttribute('download', 'session-' + id + '.cast');
      download.hidden = false;
      term = await createTerminal(p, box, kind, cast.header.width || 80, cast.header.height || 24);
    } catch (error) {
      if (!isAbort(error) && isCurrent(p)) setStatus('error: ' + error.message, 'error');
      return;
    }
    if (!isCurrent(p) || !term) return;

    const player = new CastPlayer(term, cast, function (state) {
      setStatus(state.text, state.playing ? 'live' : 'ended');
      playButton.textContent = state.playing ? 'Pause' : 'Play';
    });
    onLeave(p, function () { player.pause(); });
    playButton.disabled = false;
    restartButton.disabled = false;
    playButton.addEventListener('click', function () {
      if (player.playing) player.pause();
      else player.play();
    });
    restartButton.addEventListener('click', function () { player.restart(); });
    for (const speedButton of speedButtons) {
      speedButton.addEventListener('click', function () {
        player.setSpeed(Number(speedButton.dataset.speed));
        for (const other of speedButtons) other.classList.toggle('active', other === speedButton);
      });
    }
    player.play();
  }

  // An asciicast v2 file: a header object on the first line, then one event
  // array per line.
  function parseCast(text) {
    const lines = text.split('\n').filter(function (line) { return line.trim() !== ''; });
    if (lines.length === 0) throw new Error('the recording is empty');
    const header = parseJson(lines[0], null);
    if (!header || header.version !== 2) throw new Error('the recording is not asciicast version 2');
    const events = [];
    for (let i = 1; i < lines.length; i += 1) {
      const event = parseJson(lines[i], null);
      if (!Array.isArray(event) || typeof event[0] !== 'number') {
        throw new Error('line ' + (i + 1) + ' of the recording is not an event');
      }
      events.push(event);
    }
    return { header: header, events: events };
  }

  // Plays a recording's events with their recorded timing. A pause longer
  // than MAX_PAUSE_SECONDS is cut to that, then divided by the speed.
  class CastPlayer {
    constructor(term, cast, onState) {
      this.term = term;
      this.header = cast.header;
      this.events = cast.events;
      this.onState = onState;
      this.index = 0;       // the next event to play
      this.position = 0;    // seconds played so far (pauses cut)
      this.speed = 1;
      this.playing = false;
      this.timer = null;
      this.total = 0;       // the length of the whole replay (pauses cut)
      for (let i = 0; i < this.events.length; i += 1) this.total += this.gapBefore(i);
    }

    // Seconds to wait before event i, pauses cut.
    gapBefore(i) {
      const previous = i === 0 ? 0 : this.events[i - 1][0];
      return Math.min(MAX_PAUSE_SECONDS, Math.max(0, this.events[i][0] - previous));
    }

    play() {
      if (this.playing) return;
      if (this.index >= this.events.length) {
        this.restart();
        return;
      }
      this.playing = true;
      this.schedule();
      this.report();
    }

    pause() {
      clearTimeout(this.timer);
      this.timer = null;
      this.playing = false;
      this.report();
    }

    restart() {
      this.pause();
      this.term.reset();
      if (this.header.width && this.header.height) this.term.resize(this.header.width, this.header.height);
      this.index = 0;
      this.position = 0;
      this.play();
    }

    setSpeed(speed) {
      this.speed = speed;
      if (this.playing) { // wait for the next event at the new speed
        clearTimeout(this.timer);
        this.schedule();
      }
    }

    schedule() {
      if (this.index >= this.events.length) {
        this.playing = false;
        this.report();
        return;
      }
      const self = this;
      this.timer = setTimeout(function () { self.step(); }, this.gapBefore(this.index) * 1000 / this.speed);
    }

    // Plays the due event and every one after it that is due within a few
    // milliseconds (a busy recording would otherwise need a timer per event).
    step() {
      do {
        this.position += this.gapBefore(this.index);
        applyCastEvent(this.term, this.events[this.index]);
        this.index += 1;
      } while (this.index < this.events.length && this.gapBefore(this.index) * 1000 / this.speed < 5);
      this.report();
      this.schedule();
    }

    report() {
      const where = formatDuration(this.position) + ' of ' + formatDuration(this.total);
      let text;
      if (this.playing) text = 'playing (' + where + ')';
      else if (this.index >= this.events.length) text = 'finished (' + where + ')';
      else text = 'paused (' + where + ')';
      this.onState({ playing: this.playing, text: text });
    }
  }

  // ------------------------------------------------------------------ routes

  async function showRoutes(p) {
    const title = el('div', { class: 'toolbar' }, [heading('Routes')]);
    if (!readOnly()) {
      title.appendChild(el('a', {
        href: '#/routes/new', id: 'add-route', class: 'button', dataset: { action: 'add-route' }, text: 'Add route',
      }));
    }
    const notice = messageBox('route-message', '', undefined);
    notice.hidden = true;
    const { table, body } = makeTable('routes-table',
      ['Login or pattern', 'Upstream', 'Upstream user', 'Enabled', 'Upstream auth', 'Access', '']);
    p.main.append(title, notice, table);

    async function load() {
      try {
        const answer = await api('GET', '/v1/routes', { signal: p.signal });
        if (!isCurrent(p)) return;
        const routes = answer.routes || [];
        body.replaceChildren();
        for (const route of routes) body.appendChild(routeRow(route, body, notice, load));
        if (routes.length === 0) body.appendChild(emptyRow(7, 'No routes yet.'));
      } catch (error) {
        if (!isAbort(error)) showMessage(notice, 'Could not load the routes: ' + error.message, 'error');
      }
    }
    load();
  }

  // "alice", or "~build (pattern ^build-.*$, priority 10)", or "* (catch-all)".
  function routeName(route) {
    if (route.catch_all) return route.login + ' (catch-all)';
    if (route.pattern) {
      return route.login + ' (pattern ' + route.pattern +
        (route.priority !== null && route.priority !== undefined ? ', priority ' + route.priority : '') + ')';
    }
    return route.login;
  }

  // A short summary of who may use a route and when.
  function accessSummary(route) {
    const parts = [];
    if (route.allow_from && route.allow_from.length) parts.push('from ' + displayText(route.allow_from));
    if (route.schedule) parts.push('schedule ' + route.schedule + (route.schedule_ends_sessions ? ' (ends sessions)' : ''));
    if (route.valid_from) parts.push('valid from ' + formatTime(route.valid_from));
    if (route.valid_until) parts.push('valid until ' + formatTime(route.valid_until));
    if (route.max_sessions !== null && route.max_sessions !== undefined) parts.push('at most ' + route.max_sessions + ' sessions');
    if (route.allow && route.allow.length) parts.push('channels ' + displayText(route.allow));
    if (route.forwarding && route.forwarding !== 'all') parts.push('forwarding ' + route.forwarding);
    return parts.length ? parts.join('; ') : 'anyone, any time';
  }

  function routeRow(route, body, notice, reload) {
    const login = route.login;
    const path = '/v1/routes/' + pathSegment(login);
    const userText = route.upstream_user ||
      (route.effective_upstream_user ? route.effective_upstream_user + ' (default)' : '');
    const actions = cell('actions', '', 'actions');
    const row = el('tr', { dataset: { routeLogin: login } }, [
      cell('login', routeName(route)),
      cell('upstream', hostPort(route.upstream_host, route.upstream_port)),
      cell('upstream-user', userText),
      cell('enabled', route.enabled ? 'yes' : 'no', route.enabled ? 'yes' : 'no'),
      cell('upstream-auth', displayText(route.upstream_auth)),
      cell('access', accessSummary(route)),
      actions,
    ]);

    // Runs one action, shows its outcome and reloads the table.
    async function act(doing, work) {
      try {
        const text = await work();
        if (text) showMessage(notice, text, 'ok');
      } catch (error) {
        showMessage(notice, 'Could not ' + doing + ' route ' + login + ': ' + error.message, 'error');
      }
      reload();
    }

    if (!readOnly()) {
      actions.appendChild(el('a', {
        href: '#/routes/' + pathSegment(login) + '/edit', class: 'button secondary',
        dataset: { action: 'edit' }, text: 'Edit',
      }));
      actions.appendChild(button(route.enabled ? 'Disable' : 'Enable', 'toggle', function () {
        act(route.enabled ? 'disable' : 'enable', async function () {
          await api('PATCH', path, { body: { enabled: !route.enabled } });
          return 'Route ' + login + (route.enabled ? ' disabled.' : ' enabled.');
        });
      }, 'secondary'));
    }
    actions.appendChild(button('Keys', 'keys', function () {
      toggleKeysRow(row, login, path);
    }, 'secondary'));
    if (!readOnly()) {
      actions.appendChild(button('Trust host key', 'trust', function () {
        if (!window.confirm('Trust the host key that ' + hostPort(route.upstream_host, route.upstream_port) +
            ' presents now, for route ' + login + '?')) return;
        act('trust the host key of', async function () {
          const answer = await api('POST', path + '/trust');
          return 'Route ' + login + ' now trusts ' + answer.fingerprint +
            (answer.previous ? ' (before: ' + answer.previous + ').' : ' (no key was pinned before).');
        });
      }, 'secondary'));
      actions.appendChild(button('Create route key', 'keygen', async function () {
        if (!window.confirm('Create a key pair for route ' + login + '? The proxy keeps the private key; ' +
            'you install the public key upstream.')) return;
        try {
          const answer = await api('POST', path + '/keygen');
          showPublicKey(notice, login, answer.public_key);
        } catch (error) {
          showMessage(notice, 'Could not create a key for route ' + login + ': ' + error.message, 'error');
        }
      }, 'secondary'));
      actions.appendChild(button('Delete', 'delete', function () {
        if (!window.confirm('Delete route ' + login + '? Its keys are deleted with it.')) return;
        act('delete', async function () {
          await api('DELETE', path);
          return 'Route ' + login + ' deleted.';
        });
      }, 'danger'));
    }
    return row;
  }

  // The public half of a new route key, ready to copy.
  function showPublicKey(notice, login, publicKey) {
    const text = el('textarea', { id: 'route-public-key', class: 'mono', readonly: 'readonly', rows: '3', value: publicKey });
    const copy = button('Copy', 'copy-key', async function () {
      text.select();
      try {
        await navigator.clipboard.writeText(publicKey);
        copy.textContent = 'Copied';
      } catch (error) {
        // The clipboard API needs a secure context; the text is selected for ctrl-C.
        copy.textContent = 'Selected: press Ctrl-C';
      }
    }, 'secondary');
    notice.replaceChildren(
      document.createTextNode('The public key of route ' + login + ' (add it to the upstream account\'s authorized_keys):'),
      text, copy);
    notice.className = 'message ok';
    notice.hidden = false;
  }

  // Opens or closes the keys panel under a route's row.
  function toggleKeysRow(row, login, path) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains('keys-row')) {
      next.remove();
      return;
    }
    const panel = el('td', { colspan: '7' });
    row.after(el('tr', { class: 'keys-row', dataset: { keysFor: login } }, [panel]));
    loadKeys(panel, login, path);
  }

  // The authorized keys of a route (the keys users log in with), with remove
  // buttons and a box to add authorized_keys lines.
  async function loadKeys(panel, login, path) {
    panel.replaceChildren(el('p', { class: 'muted', text: 'Loading the keys of ' + login + '…' }));
    const message = el('p', { class: 'error', dataset: { testid: 'keys-message' } });
    message.hidden = true;
    let keys;
    try {
      keys = (await api('GET', path + '/keys')).keys || [];
    } catch (error) {
      panel.replaceChildren(el('p', { class: 'error', text: 'Could not load the keys: ' + error.message }));
      return;
    }
    const { table, body } = makeTable('keys-' + login, ['Type', 'Fingerprint', 'Comment', 'Added', '']);
    table.removeAttribute('id'); // logins can hold characters that make poor ids
    table.dataset.testid = 'keys-table';
    for (const key of keys) {
      const actions = cell('actions', '', 'actions');
      if (!readOnly()) {
        actions.appendChild(button('Remove', 'remove-key', async function () {
          if (!window.confirm('Remove key ' + key.fingerprint + ' from route ' + login + '?')) return;
          try {
            await api('DELETE', path + '/keys/' + pathSegment(key.fingerprint));
            loadKeys(panel, login, path);
          } catch (error) {
            showMessage(message, 'Could not remove the key: ' + error.message, 'error');
          }
        }, 'danger'));
      }
      body.appendChild(el('tr', { dataset: { fingerprint: key.fingerprint } }, [
        cell('type', key.type), cell('fingerprint', key.fingerprint, 'mono'), cell('comment', key.comment),
        cell('created', formatTime(key.created_at)), actions,
      ]));
    }
    if (keys.length === 0) body.appendChild(emptyRow(5, 'No keys: logins to ' + login + ' use the other methods.'));
    panel.replaceChildren(el('h2', { text: 'Keys of ' + login }), table, message);

    if (readOnly()) return;
    const input = el('textarea', {
      class: 'mono', rows: '3', dataset: { testid: 'keys-input' },
      placeholder: 'ssh-ed25519 AAAA… comment (authorized_keys lines, one key per line)',
    });
    const add = button('Add keys', 'add-keys', async function () {
      add.disabled = true;
      try {
        const answer = await api('POST', path + '/keys', { body: { authorized_keys: input.value } });
        const added = (answer && answer.keys) || [];
        await loadKeys(panel, login, path);
        const done = panel.querySelector('[data-testid="keys-message"]');
        if (done) showMessage(done, 'Added ' + added.length + ' key' + (added.length === 1 ? '' : 's') + '.', 'ok');
      } catch (error) {
        showMessage(message, 'Could not add the keys: ' + error.message, 'error');
        add.disabled = false;
      }
    });
    panel.append(input, el('div', { class: 'toolbar' }, [add]));
  }

  // ------------------------------------------------------------- route form

  // The fields of the add and edit forms. `name` is the API's field: of
  // RouteInput on the add form, of RouteChangesInput on the edit form.
  //  on:      'add', 'edit' or both
  //  from:    the field's current value in a Route (edit form)
  //  options: a select's choices; '' is "not set" / "unchanged"
  //  clear:   what the edit form sends when the field is emptied
  //  number:  sent as a number
  const ROUTE_FIELDS = [
    { group: 'Route', name: 'login', label: 'Login', on: ['add'], hint: 'The name users log in with: ssh alice@gateway' },
    { group: 'Route', name: 'match', label: 'Pattern', on: ['add'], hint: 'Instead of a login: a regular expression (a pattern route)' },
    { group: 'Route', name: 'priority', label: 'Priority', on: ['add', 'edit'], number: true, from: 'priority', hint: 'Pattern routes: lower is tried first' },
    { group: 'Route', name: 'enabled', label: 'Enabled', on: ['edit'], options: ['true', 'false'], from: 'enabled' },
    { group: 'Upstream', name: 'upstream', label: 'Upstream', on: ['add'], hint: 'host or host:port (port 22 by default)' },
    { group: 'Upstream', name: 'host', label: 'Upstream host', on: ['edit'], from: 'upstream_host' },
    { group: 'Upstream', name: 'port', label: 'Upstream port', on: ['edit'], from: 'upstream_port' },
    { group: 'Upstream', name: 'upstream_user', label: 'Upstream user', on: ['add', 'edit'], from: 'upstream_user', hint: 'Empty: the login' },
    { group: 'Upstream authentication', name: 'upstream_auth', label: 'Method', on: ['add', 'edit'], from: 'upstream_auth',
      options: ['', 'automatic', 'password', 'key', 'agent', 'certificate'] },
    { group: 'Upstream authentication', name: 'identity_file', label: 'Identity file', on: ['add', 'edit'], from: 'identity_file', clear: '' },
    { group: 'Upstream authentication', name: 'principal', label: 'Certificate principal', on: ['add', 'edit'], from: 'certificate_principal' },
    { group: 'Upstream authentication', name: 'cert_ttl', label: 'Certificate lifetime', on: ['add', 'edit'], number: true, from: 'certificate_lifetime', hint: 'Seconds' },
    { group: 'Upstream host key', name: 'host_key', label: 'Host key', on: ['add', 'edit'], hint: 'A fingerprint (SHA256:…) or key line to pin' },
    { group: 'Upstream host key', name: 'forget_host_key', label: 'Forget the pinned key', on: ['edit'], checkbox: true },
    { group: 'Upstream host key', name: 'host_key_policy', label: 'Policy', on: ['add', 'edit'], from: 'host_key_policy',
      options: ['', 'strict', 'accept-new', 'off'], editOptions: ['default', 'strict', 'accept-new', 'off'] },
    { group: 'Access', name: 'allow_from', label: 'Allow from', on: ['add', 'edit'], from: 'allow_from', clear: 'any', hint: 'Client addresses: CIDR, CIDR, … (empty: any)' },
    { group: 'Access', name: 'schedule', label: 'Schedule', on: ['add', 'edit'], from: 'schedule', clear: 'always', hint: 'e.g. Mon-Fri 08:00-19:00 Europe/Berlin (empty: always)' },
    { group: 'Access', name: 'schedule_ends_sessions', label: 'Schedule ends sessions', on: ['add', 'edit'], from: 'schedule_ends_sessions', options: ['', 'on', 'off'] },
    { group: 'Access', name: 'valid_from', label: 'Valid from', on: ['add', 'edit'], from: 'valid_from', clear: 'none', hint: 'e.g. 2026-12-01T08:00:00Z' },
    { group: 'Access', name: 'valid_until', label: 'Valid until', on: ['add', 'edit'], from: 'valid_until', clear: 'none' },
    { group: 'Access', name: 'max_sessions', label: 'Max sessions', on: ['add', 'edit'], from: 'max_sessions', clear: 'none', hint: 'Empty: no limit' },
    { group: 'Access', name: 'allow', label: 'Allowed channels', on: ['add', 'edit'], from: 'allow', clear: 'all', hint: 'e.g. shell,exec,sftp (empty: all)' },
    { group: 'Access', name: 'forwarding', label: 'Forwarding', on: ['add', 'edit'], from: 'forwarding', options: ['', 'all', 'local', 'remote', 'none'] },
    { group: 'Access', name: 'record', label: 'Record sessions', on: ['add', 'edit'], options: ['', 'on', 'off', 'default'] },
  ];

  // A Route's value as the text of a form field.
  function formText(value) {
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) return value.join(',');
    if (typeof value === 'boolean') return value ? 'on' : 'off';
    return String(value);
  }

  // The form field's starting text: the route's value on the edit form.
  function initialText(field, route) {
    if (!route) return '';
    if (field.name === 'enabled') return route.enabled ? 'true' : 'false';
    if (field.name === 'host_key_policy') return route.host_key_policy || 'default';
    return field.from ? formText(route[field.from]) : '';
  }

  function fieldControl(field, editing, start) {
    const id = 'route-' + field.name.replace(/_/g, '-');
    if (field.checkbox) return el('input', { type: 'checkbox', id: id, name: field.name });
    const choices = editing && field.editOptions ? field.editOptions.slice() : (field.options || null);
    if (choices) {
      if (start && !choices.includes(start)) choices.push(start); // a value this form doesn't know
      const select = el('select', { id: id, name: field.name }, choices.map(function (choice) {
        let label = choice;
        if (choice === '') label = editing ? '(unchanged)' : '(default)';
        if (field.name === 'enabled') label = choice === 'true' ? 'yes' : 'no';
        return el('option', { value: choice, text: label });
      }));
      select.value = start;
      return select;
    }
    return el('input', { type: 'text', id: id, name: field.name, value: start, autocomplete: 'off' });
  }

  // The value to send for a field, converted as the API wants it.
  function apiValue(field, text) {
    if (field.name === 'enabled') return text === 'true';
    if (field.number && /^-?\d+$/.test(text)) return Number(text);
    return text;
  }

  async function showRouteForm(p, login) {
    const editing = login !== undefined;
    p.main.appendChild(heading(editing ? 'Edit route ' + login : 'Add a route'));
    if (readOnly()) {
      pageError(p, 'This token is read-only: it cannot change routes.');
      return;
    }
    const path = editing ? '/v1/routes/' + pathSegment(login) : '/v1/routes';
    let route = null;
    if (editing) {
      try {
        route = await api('GET', path, { signal: p.signal });
      } catch (error) {
        if (!isAbort(error)) pageError(p, 'Could not load route ' + login + ': ' + error.message);
        return;
      }
      if (!isCurrent(p)) return;
    }

    const error = el('div', { id: 'form-error', class: 'message error', role: 'alert' });
    error.hidden = true;
    const form = el('form', { id: 'route-form', novalidate: 'novalidate' });
    const controls = []; // {field, control, start}
    const groups = new Map();
    for (const field of ROUTE_FIELDS) {
      if (!field.on.includes(editing ? 'edit' : 'add')) continue;
      const start = initialText(field, route);
      const control = fieldControl(field, editing, start);
      controls.push({ field: field, control: control, start: start });
      if (!groups.has(field.group)) {
        const grid = el('div', { class: 'form-grid' });
        groups.set(field.group, grid);
        form.appendChild(el('fieldset', {}, [el('legend', { text: field.group }), grid]));
      }
      const grid = groups.get(field.group);
      grid.append(el('label', { for: control.id, text: field.label }), control);
      if (field.hint) grid.appendChild(el('span', { class: 'hint', text: field.hint }));
    }
    const save = el('button', { type: 'submit', id: 'route-save', text: editing ? 'Save changes' : 'Add route' });
    // The error goes just above the button, where the operator is looking.
    form.appendChild(error);
    form.appendChild(el('div', { class: 'toolbar' }, [
      save, el('a', { href: '#/routes', class: 'button secondary', id: 'route-cancel', text: 'Cancel' }),
    ]));
    p.main.append(form);

    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      const body = editing ? changedFields(controls) : filledFields(controls);
      if (Object.keys(body).length === 0) {
        showMessage(error, editing ? 'Nothing was changed.' : 'Fill in the login (or a pattern) and the upstream.', 'error');
        error.scrollIntoView({ block: 'nearest' });
        return;
      }
      save.disabled = true;
      try {
        const saved = await api(editing ? 'PATCH' : 'POST', path, { body: body });
        const name = (saved && saved.login) || login || body.login || body.match;
        pendingMessage = { text: 'Route ' + name + (editing ? ' saved.' : ' added.'), kind: 'ok' };
        location.hash = '#/routes';
      } catch (failure) {
        // Stay on the form, with the API's own words next to it.
        if (isCurrent(p)) {
          showMessage(error, failure.message, 'error');
          error.dataset.code = failure.code || '';
          error.scrollIntoView({ block: 'nearest' });
        }
      } finally {
        save.disabled = false;
      }
    });
  }

  // The add form sends every field that was filled in.
  function filledFields(controls) {
    const body = {};
    for (const { field, control } of controls) {
      const text = control.value.trim();
      if (text !== '') body[field.name] = apiValue(field, text);
    }
    return body;
  }

  // The edit form sends only what differs from the route as loaded; an
  // emptied field sends the API's word for "off" (any, always, none, ...).
  function changedFields(controls) {
    const body = {};
    for (const { field, control, start } of controls) {
      if (field.checkbox) {
        if (control.checked) body[field.name] = true;
        continue;
      }
      const text = control.value.trim();
      if (text === start) continue;
      if (text === '') {
        if (field.clear !== undefined) body[field.name] = field.clear;
        continue; // a select's "(unchanged)"
      }
      body[field.name] = apiValue(field, text);
    }
    return body;
  }

  // ----------------------------------------------------------------- explain

  function showExplain(p) {
    p.main.appendChild(heading('Explain a login'));
    p.main.appendChild(el('p', { class: 'muted', text: 'Which route would serve a login, from an address, at a time, and why.' }));
    const loginInput = el('input', { type: 'text', id: 'explain-login', placeholder: 'alice', autocomplete: 'off' });
    const fromInput = el('input', { type: 'text', id: 'explain-from', placeholder: '10.0.0.5 (optional)' });
    const atInput = el('input', { type: 'text', id: 'explain-at', placeholder: '2026-12-01T21:00:00+01:00 (empty: now)' });
    const submit = el('button', { type: 'submit', id: 'explain-submit', text: 'Explain' });
    const form = el('form', { id: 'explain-form', class: 'form-grid' }, [
      el('label', { for: 'explain-login', text: 'Login' }), loginInput,
      el('label', { for: 'explain-from', text: 'From address' }), fromInput,
      el('label', { for: 'explain-at', text: 'At' }), atInput,
      el('span'), el('div', {}, [submit]),
    ]);
    const result = el('div', { id: 'explain-result' });
    p.main.append(form, result);

    form.addEventListener('submit', async function (event) {
      event.preventDefault();
      const login = loginInput.value.trim();
      if (!login) {
        result.replaceChildren(el('p', { id: 'explain-error', class: 'error', text: 'Enter a login.' }));
        return;
      }
      const path = '/v1/explain' + query({ login: login, from: fromInput.value.trim(), at: atInput.value.trim() });
      submit.disabled = true;
      try {
        const explanation = await api('GET', path, { signal: p.signal });
        result.replaceChildren(...explanationView(login, explanation));
      } catch (error) {
        if (isAbort(error)) return;
        result.replaceChildren(el('p', {
          id: 'explain-error', class: 'error', text: 'Could not explain “' + login + '”: ' + error.message,
        }));
      } finally {
        submit.disabled = false;
      }
    });
  }

  function explanationView(asked, x) {
    const verdict = displayText(x.verdict);
    const allowed = /^(allow|accept|pass|ok|yes|serve)/i.test(verdict);
    const facts = [
      ['Login', x.login || asked], ['From', x.from], ['At', x.at ? formatTime(x.at) + ' (' + x.at + ')' : ''],
      ['Route', x.route], ['Served by', x.served_by], ['Upstream', x.upstream], ['Upstream user', x.upstream_user],
      ['Upstream auth', x.upstream_auth], ['Certificate principal', x.certificate_principal],
      ['Allowed channels', x.allowed_channels], ['Forwarding', x.forwarding],
    ];
    const list = el('dl', { class: 'facts', id: 'explain-facts' });
    for (const [label, value] of facts) {
      const text = displayText(value);
      if (text === '') continue;
      list.append(el('dt', { text: label }), el('dd', { text: text }));
    }
    const { table, body } = makeTable('explain-checks', ['Rule', 'Verdict', 'Detail']);
    for (const check of x.checks || []) {
      body.appendChild(el('tr', {}, [
        cell('rule', displayText(check.rule)), cell('verdict', displayText(check.verdict)), cell('detail', displayText(check.detail)),
      ]));
    }
    if (!x.checks || x.checks.length === 0) body.appendChild(emptyRow(3, 'No checks.'));
    return [
      el('p', { id: 'explain-verdict', class: 'verdict ' + (allowed ? 'allowed' : 'refused'), text: verdict }),
      list,
      el('h2', { text: 'Checks' }),
      table,
    ];
  }

  // ----------------------------------------------------------------- changes

  async function showChanges(p) {
    p.main.appendChild(heading('Changes'));
    p.main.appendChild(el('p', { class: 'muted', text: 'The last 100 changes made through the admin API, newest first.' }));
    const { table, body } = makeTable('changes-table', ['When', 'Token', 'Action', 'Target', 'Detail']);
    p.main.appendChild(table);
    try {
      const answer = await api('GET', '/v1/changes?limit=100', { signal: p.signal });
      const changes = answer.changes || [];
      for (const change of changes) {
        body.appendChild(el('tr', { dataset: { changeId: String(change.id) } }, [
          cell('at', formatTime(change.at)), cell('token', displayText(change.token)), cell('action', displayText(change.action)),
          cell('target', displayText(change.target)), cell('detail', displayText(change.detail)),
        ]));
      }
      if (changes.length === 0) body.appendChild(emptyRow(5, 'No changes yet.'));
    } catch (error) {
      if (!isAbort(error)) pageError(p, 'Could not load the changes: ' + error.message);
    }
  }

  // ------------------------------------------------------------------ router

  // The hash's path: "#/routes/alice/edit?x=1" -> "/routes/alice/edit".
  function currentPath() {
    return location.hash.replace(/^#/, '').split('?')[0];
  }

  function decodeSegment(text) {
    try {
      return decodeURIComponent(text);
    } catch (ignored) {
      return text;
    }
  }

  // Hash paths and the functions that draw them; captured parts become
  // arguments after the page.
  const PAGES = [
    [/^\/sessions$/, showLiveSessions],
    [/^\/sessions\/(\d+)\/watch$/, showWatch],
    [/^\/history$/, showHistory],
    [/^\/history\/(\d+)\/replay$/, showReplay],
    [/^\/routes$/, showRoutes],
    [/^\/routes\/new$/, function (p) { return showRouteForm(p, undefined); }],
    [/^\/routes\/([^/]+)\/edit$/, function (p, login) { return showRouteForm(p, decodeSegment(login)); }],
    [/^\/explain$/, showExplain],
    [/^\/changes$/, showChanges],
  ];

  // Draws the page for the current hash (or the sign-in page).
  async function render() {
    const mine = ++renderCount;
    leavePage();
    if (!storedToken()) {
      showSignIn();
      return;
    }
    if (!identity) {
      try {
        identity = await api('GET', '/v1/whoami');
      } catch (error) {
        if (mine !== renderCount) return; // a 401 already showed the sign-in page
        showSignIn('Could not reach the admin API: ' + error.message, 'error');
        return;
      }
      if (mine !== renderCount) return;
    }
    const path = currentPath();
    if (path === '' || path === '/') {
      location.replace('#/sessions'); // fires hashchange, which renders
      return;
    }
    showHeader();
    const p = startPage();
    for (const [pattern, draw] of PAGES) {
      const match = pattern.exec(path);
      if (match) {
        draw(p, ...match.slice(1));
        return;
      }
    }
    p.main.append(heading('Not found'), el('p', { text: 'There is no page ' + path + ' in the console.' }));
  }

  function start() {
    byId('sign-out').addEventListener('click', function () {
      signOut('You are signed out.', 'info');
    });
    window.addEventListener('hashchange', render);
    render();
  }

  start();
})();
