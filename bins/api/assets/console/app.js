// The support console (GET /support/console): a plain script, no build step,
// no outside requests. It talks to its own origin only: REST with a bearer
// token, and one WebSocket opened with a single-use ticket.
//
// Rules it keeps:
// * tokens live in memory only (never in URLs or storage; a reload means
//   logging in again);
// * text from users is put on the page with textContent, never as markup;
// * after a drop it reconnects with a fresh ticket and `resume`s every
//   conversation it holds from the last seq up to which it holds them all;
//   messages are kept by seq, so a message seen twice is shown once and a
//   gap is asked for until it is filled;
// * only the server's refusal of the refresh token ends the session: a
//   renewal that fails for now (503, 429, no network) is tried again, and
//   replies typed meanwhile wait to be sent;
// * it stays within the socket's budgets (10 messages and 30 other frames
//   in any 10 s): what the server refused for the budget is sent again later.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 15000;
  const TYPING_EVERY_MS = 2000;
  const TYPING_SHOWN_MS = 4000;
  const BOARD_ROWS = 100;
  const RENEW_BEFORE_MS = 30000;
  const BUDGET_PERIOD_MS = 10000; // the socket's budgets count frames in any 10 s
  const RESUMES_AT_ONCE = 25; // of the 30 control frames a socket may send in that time
  const FINAL_STATUSES = new Set(['completed', 'cancelled']);
  // Refusals that pass: what they refused is sent again a budget's period later.
  const TRY_AGAIN = new Set(['rate_limited', 'service_unavailable', 'busy']);
  const SESSION_ENDED = 'Your session ended: log in again.';

  const state = {
    access: null,
    refresh: null,
    renewAt: 0, // when the access token is renewed before use (ms since the epoch)
    me: null,
    wanted: false, // a socket should be open
    socket: null,
    attempts: 0,
    retryTimer: null,
    conversations: new Map(), // id -> { info, messages: Map(seq -> message), maxSeq, loaded, hasEarlier, readSeq, learned }
    selected: null,
    orders: new Map(), // id -> { id, number, status, updated_at, version, deleted, learned }
    learned: 0, // counts what the page learned; a list read judges only what it learned before the read
    outbox: new Map(), // client_id -> message frame not yet acknowledged
    emails: new Map(), // user id -> e-mail (or a promise of it)
    typedAt: 0,
    typingTimer: null,
    resumeTimer: null,
    resendTimer: null,
    catchingUp: false, // a catch-up (list reads, resumes) runs
    catchUpAgain: false, // a resync came while it ran
  };

  // ---------- REST ----------

  class ApiError extends Error {
    constructor(status, problem) {
      super((problem && (problem.detail || problem.title)) || `The server answered ${status}.`);
      this.status = status;
      this.code = problem && problem.code;
    }
  }

  async function request(method, path, body, token) {
    const headers = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    });
    const text = await resp.text();
    const data = text ? parseJson(text) : null;
    if (!resp.ok) throw new ApiError(resp.status, data);
    return data;
  }

  let refreshing = null;
  /**
   * Swaps the refresh token for a new pair: 'renewed'; 'ended' when the
   * server refused the token (the session is over: logged out, revoked,
   * expired), and the desk is signed out; 'failed' when it could not say
   * for now (503, 429, no network), and the tokens are kept for a retry.
   */
  function refreshTokens() {
    if (!state.refresh) return Promise.resolve('ended');
    if (!refreshing) {
      const sent = state.refresh;
      refreshing = (async () => {
        try {
          const pair = await request('POST', '/auth/refresh', { refresh_token: sent });
          if (state.refresh !== sent) return 'failed'; // logged out (and in again) meanwhile
          keepTokens(pair);
          return 'renewed';
        } catch (err) {
          if (err.status !== 401) return 'failed';
          // A late refusal of a token this desk no longer holds ends nothing.
          if (state.refresh === sent) signedOut(SESSION_ENDED);
          return 'ended';
        } finally {
          refreshing = null;
        }
      })();
    }
    return refreshing;
  }

  /** Keeps a token pair; the access token is renewed shortly before it expires. */
  function keepTokens(pair) {
    state.access = pair.access_token;
    state.refresh = pair.refresh_token;
    const lifetime = Math.max(0, Number(pair.expires_in) || 0) * 1000;
    state.renewAt = Date.now() + lifetime - Math.min(RENEW_BEFORE_MS, lifetime / 5);
  }

  /**
   * A call with the access token, renewed first when it is about to expire
   * (so the browser never logs a 401); on a 401 all the same, the tokens
   * are refreshed once and the call repeated. A renewal that failed for now
   * fails the call, and the caller tries again later.
   */
  async function api(method, path, body) {
    if (state.refresh && Date.now() >= state.renewAt) await refreshTokens();
    try {
      return await request(method, path, body, state.access);
    } catch (err) {
      if (err.status === 401 && (await refreshTokens()) === 'renewed') {
        return request(method, path, body, state.access);
      }
      throw err;
    }
  }

  // ---------- logging in and out ----------

  $('login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('login-error').textContent = '';
    $('login-submit').disabled = true;
    try {
      const email = $('login-email').value.trim();
      const pair = await request('POST', '/auth/login', { email, password: $('login-password').value });
      keepTokens(pair);
      const me = await api('GET', '/me');
      if (me.role !== 'admin') {
        await endSession();
        $('login-error').textContent = 'This console is for staff accounts.';
        return;
      }
      state.me = me;
      $('login-password').value = '';
      enterDesk();
    } catch (err) {
      $('login-error').textContent = err.message;
    } finally {
      $('login-submit').disabled = false;
    }
  });

  $('logout').addEventListener('click', async () => {
    await endSession();
    signedOut('');
  });

  async function endSession() {
    const refresh = state.refresh;
    state.access = null;
    state.refresh = null;
    if (refresh) {
      try {
        await request('POST', '/auth/logout', { refresh_token: refresh });
      } catch (_) {
        // The session ends on its own when the token expires.
      }
    }
  }

  function enterDesk() {
    $('login-view').hidden = true;
    $('desk-view').hidden = false;
    $('logout').hidden = false;
    $('who').textContent = state.me.email;
    state.wanted = true;
    connect();
  }

  function signedOut(reason) {
    state.wanted = false;
    state.access = null;
    state.refresh = null;
    state.me = null;
    clearTimeout(state.retryTimer);
    clearTimeout(state.resumeTimer);
    clearTimeout(state.resendTimer);
    state.resendTimer = null;
    const socket = state.socket;
    state.socket = null;
    if (socket) socket.close(1000, 'logged out');
    for (const conv of state.conversations.values()) clearTimeout(conv.gapTimer);
    state.conversations.clear();
    state.orders.clear();
    state.outbox.clear();
    state.selected = null;
    renderConversations();
    renderChat();
    renderOrders();
    $('desk-view').hidden = true;
    $('login-view').hidden = false;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('login-error').textContent = reason;
    setStatus('offline', 'signed out');
  }

  // ---------- the socket ----------

  function setStatus(kind, text) {
    Object.assign($('status'), { className: `status ${kind}`, textContent: text });
  }

  async function connect() {
    clearTimeout(state.retryTimer);
    if (!state.wanted || state.socket) return;
    setStatus('connecting', 'connecting…');
    let ticket;
    try {
      ticket = (await api('POST', '/support/tickets')).ticket;
    } catch (err) {
      if (state.wanted) scheduleReconnect();
      return;
    }
    if (!state.wanted || state.socket) return;
    const url = `${location.origin.replace(/^http/, 'ws')}/ws?ticket=${encodeURIComponent(ticket)}`;
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.addEventListener('open', () => state.socket === socket && onOpen());
    socket.addEventListener('message', (event) => state.socket === socket && onFrame(event.data));
    socket.addEventListener('close', (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      // Any close while the desk is open is a drop (4001: the token behind the
      // ticket expired; the next ticket is asked for with a renewed one).
      if (state.wanted) scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    const delay = Math.min(RECONNECT_FIRST_MS * 2 ** state.attempts, RECONNECT_MAX_MS);
    state.attempts += 1;
    setStatus('offline', 'reconnecting…');
    state.retryTimer = setTimeout(connect, delay + Math.floor(Math.random() * 250));
  }

  // Back on the network: no need to wait for the next attempt.
  window.addEventListener('online', () => {
    if (state.wanted && !state.socket) connect();
  });

  function send(frame) {
    const socket = state.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function onOpen() {
    state.attempts = 0;
    setStatus('online', 'connected');
    catchUp();
  }

  /** Catches up: the lists from REST, then every held conversation from its last seq. */
  async function catchUp() {
    // One at a time: resyncs that come in a burst (each replica that lost
    // a publish announces it) cost one more catch-up a second later, not
    // one each.
    if (state.catchingUp) {
      state.catchUpAgain = true;
      return;
    }
    state.catchingUp = true;
    try {
      do {
        state.catchUpAgain = false;
        try {
          await Promise.all([loadConversations(), loadOrders()]);
        } catch (err) {
          showError(err.message);
        }
        // SIMPLIFICATION: a held conversation beyond the 100 listed is caught up
        // when its next message shows a gap, or when it is picked again.
        resumeBehind(true);
        resendOutbox();
        if (state.catchUpAgain) await new Promise((done) => setTimeout(done, 1000));
      } while (state.catchUpAgain);
    } finally {
      state.catchingUp = false;
    }
  }

  /**
   * Resumes the held conversations that may have news: the lists just read
   * tell which grew, and a gap shows what was missed. At most
   * RESUMES_AT_ONCE now, the rest a budget's period later.
   */
  function resumeBehind(withSelected) {
    clearTimeout(state.resumeTimer);
    const behind = [...state.conversations.values()].filter(
      (conv) => conv.loaded && (conv.info.last_seq > unbrokenUpTo(conv) || (withSelected && conv.info.id === state.selected)),
    );
    behind.slice(0, RESUMES_AT_ONCE).forEach(resume);
    if (behind.length > RESUMES_AT_ONCE) state.resumeTimer = setTimeout(() => resumeBehind(false), BUDGET_PERIOD_MS);
  }

  function resume(conv) {
    conv.resumedAt = Date.now();
    send({ type: 'resume', conversation_id: conv.info.id, after_seq: unbrokenUpTo(conv) });
  }

  /**
   * A gap in what this console holds: asks for what is missing, but not
   * again while a resume sent less than a budget's period ago may still be
   * replaying it (every replayed message but the last leaves a gap open);
   * then once more if the gap is still there.
   */
  function askForGap(conv) {
    if (!conv.loaded || conv.gapTimer || unbrokenUpTo(conv) >= conv.maxSeq) return;
    const wait = (conv.resumedAt || 0) + BUDGET_PERIOD_MS - Date.now();
    if (wait <= 0) {
      resume(conv);
      return;
    }
    conv.gapTimer = setTimeout(() => {
      conv.gapTimer = null;
      askForGap(conv);
    }, wait);
  }

  /** The seq up to which every message is held, from the first held one on. */
  function unbrokenUpTo(conv) {
    if (!conv.messages.size) return conv.maxSeq;
    let seq = Math.min(...conv.messages.keys());
    while (conv.messages.has(seq + 1)) seq += 1;
    return seq;
  }

  /** Sends every reply not yet acknowledged (the server stores a client_id once). */
  function resendOutbox() {
    clearTimeout(state.resendTimer);
    state.resendTimer = null;
    for (const frame of state.outbox.values()) send(frame);
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch (_) {
      return null;
    }
  }

  function onFrame(text) {
    const frame = parseJson(text) || {};
    switch (frame.type) {
      case 'message':
        addMessage(frame);
        break;
      case 'conversation':
        upsertConversation(frame);
        renderConversations();
        if (frame.id === state.selected) renderChat();
        break;
      case 'typing':
        showTyping(frame);
        break;
      case 'order':
        upsertOrder(frame);
        renderOrders();
        break;
      case 'error':
        // Live delivery was interrupted on the server's side: catch up as after a reconnect.
        if (frame.code === 'resync') {
          catchUp();
          break;
        }
        // Over the socket's budget, or the server busy or without its
        // database for now: a refused reply stays pending (and later ones
        // wait behind it) and a refused resume is asked again.
        if (TRY_AGAIN.has(frame.code)) {
          if (frame.client_id) {
            clearTimeout(state.resendTimer);
            state.resendTimer = setTimeout(resendOutbox, BUDGET_PERIOD_MS);
          } else {
            clearTimeout(state.resumeTimer);
            state.resumeTimer = setTimeout(() => resumeBehind(false), BUDGET_PERIOD_MS);
          }
          break;
        }
        if (frame.client_id) state.outbox.delete(frame.client_id);
        showError(frame.detail || frame.code);
        renderChat();
        break;
      default:
        break;
    }
  }

  // ---------- conversations ----------

  function conversationOf(info) {
    let conv = state.conversations.get(info.id);
    if (!conv) {
      conv = { info, messages: new Map(), maxSeq: 0, loaded: false, hasEarlier: false, readSeq: 0 };
      state.conversations.set(info.id, conv);
    }
    conv.learned = ++state.learned;
    return conv;
  }

  function upsertConversation(info) {
    const conv = conversationOf(info);
    const last = Math.max(conv.info.last_seq || 0, info.last_seq || 0);
    conv.info = { ...conv.info, ...info, last_seq: last };
    return conv;
  }

  async function loadConversations() {
    const asked = state.learned;
    const page = await api('GET', '/support/conversations?status=open&sort=-last_message_at&page_size=100');
    const open = new Set(page.items.map((c) => c.id));
    for (const info of page.items) upsertConversation(info);
    // SIMPLIFICATION: the console lists the 100 most recently active open
    // conversations; one closed meanwhile is noticed when all fit on a page.
    // One the socket told of while the list was read is newer than the list.
    if (page.total <= page.items.length) {
      for (const conv of state.conversations.values()) {
        if (!open.has(conv.info.id) && conv.info.status === 'open' && conv.learned <= asked) {
          conv.info.status = 'closed';
        }
      }
    }
    renderConversations();
    if (state.selected) renderChat();
  }

  async function loadHistory(conv, beforeSeq) {
    const query = beforeSeq ? `before_seq=${beforeSeq}&limit=100` : 'limit=100';
    const page = await api('GET', `/support/conversations/${encodeURIComponent(conv.info.id)}/messages?${query}`);
    for (const message of page.items) store(conv, message);
    if (!beforeSeq || page.items.length) conv.hasEarlier = page.has_more;
    if (!conv.loaded) {
      conv.loaded = true;
      // Whatever was sent between this page and now.
      resume(conv);
    }
    renderChat();
  }

  /** Keeps a message by seq; true when it was new. */
  function store(conv, message) {
    if (conv.messages.has(message.seq)) return false;
    conv.messages.set(message.seq, message);
    conv.maxSeq = Math.max(conv.maxSeq, message.seq);
    conv.info.last_seq = Math.max(conv.info.last_seq || 0, message.seq);
    if (instant(message.created_at) > instant(conv.info.last_message_at)) conv.info.last_message_at = message.created_at;
    return true;
  }

  function addMessage(message) {
    if (message.client_id) state.outbox.delete(message.client_id);
    const conv = conversationOf({
      id: message.conversation_id,
      customer_id: message.sender_role === 'user' ? message.sender_id : null,
      status: 'open',
      created_at: message.created_at,
      last_message_at: message.created_at,
      last_seq: 0,
    });
    if (!store(conv, message)) return;
    askForGap(conv);
    renderConversations();
    if (conv.info.id === state.selected) renderChat();
  }

  async function select(id) {
    state.selected = id;
    $('chat-error').textContent = '';
    $('reply').value = '';
    renderConversations();
    renderChat();
    const conv = state.conversations.get(id);
    if (conv && !conv.loaded) {
      try {
        await loadHistory(conv);
      } catch (err) {
        showError(err.message);
      }
    } else if (conv) {
      resume(conv);
    }
  }

  function emailOf(userId) {
    if (!userId) return null;
    const known = state.emails.get(userId);
    if (typeof known === 'string') return known;
    if (!known) {
      const pending = api('GET', `/users/${encodeURIComponent(userId)}`)
        .then((user) => {
          state.emails.set(userId, user.email);
          renderConversations();
          renderChat();
        })
        .catch(() => state.emails.set(userId, 'a former customer'));
      state.emails.set(userId, pending);
    }
    return null;
  }

  function customerName(conv) {
    return emailOf(conv.info.customer_id) || `customer ${String(conv.info.customer_id || '').slice(0, 8)}`;
  }

  function renderConversations() {
    const list = $('conversations');
    const shown = [...state.conversations.values()]
      .filter((c) => c.info.status === 'open' || c.info.id === state.selected)
      .sort((a, b) => instant(b.info.last_message_at).localeCompare(instant(a.info.last_message_at)));
    list.replaceChildren(
      ...shown.map((conv) => {
        const li = document.createElement('li');
        li.dataset.conversationId = conv.info.id;
        if (conv.info.id === state.selected) li.className = 'selected';
        const name = document.createElement('span');
        name.className = 'name';
        name.textContent = customerName(conv);
        const unread = Math.max(0, (conv.info.last_seq || 0) - conv.readSeq);
        const sub = document.createElement('span');
        sub.className = 'sub';
        sub.textContent = `${conv.info.status} · ${timeOf(conv.info.last_message_at)}`;
        li.append(name);
        if (unread > 0 && conv.info.id !== state.selected) {
          const badge = document.createElement('span');
          badge.className = 'unread';
          badge.textContent = String(unread);
          li.append(badge);
        }
        li.append(sub);
        li.addEventListener('click', () => select(conv.info.id));
        return li;
      }),
    );
    $('no-conversations').hidden = shown.length > 0;
  }

  function renderChat() {
    const conv = state.selected && state.conversations.get(state.selected);
    const open = Boolean(conv && conv.info.status === 'open');
    $('reply-form').hidden = !open;
    $('close-conversation').hidden = !open;
    $('load-earlier').hidden = !(conv && conv.hasEarlier);
    if (!conv) {
      $('chat-title').textContent = 'Pick a conversation';
      $('messages').replaceChildren();
      return;
    }
    conv.readSeq = conv.maxSeq;
    $('chat-title').textContent = `${customerName(conv)}${open ? '' : ' (closed)'}`;
    const messages = [...conv.messages.values()].sort((a, b) => a.seq - b.seq);
    const pending = [...state.outbox.values()].filter((f) => f.conversation_id === conv.info.id);
    const items = messages.map((m) => messageItem(m.body, m.sender_role, m.sender_id, m.created_at, m.seq));
    for (const f of pending) items.push(messageItem(f.body, 'admin', state.me && state.me.id, null, null));
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.replaceChildren(...items);
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  function messageItem(body, role, senderId, createdAt, seq) {
    const li = document.createElement('li');
    li.className = role === 'admin' ? 'admin' : 'user';
    if (seq === null) li.classList.add('pending');
    else li.dataset.seq = String(seq);
    const meta = document.createElement('span');
    meta.className = 'meta';
    let who = 'customer';
    if (role === 'admin') who = state.me && senderId === state.me.id ? 'you' : 'staff';
    meta.textContent = seq === null ? `${who} · sending…` : `${who} · ${timeOf(createdAt)} · #${seq}`;
    const text = document.createElement('span');
    text.className = 'body';
    text.textContent = body;
    li.append(meta, text);
    return li;
  }

  function showTyping(frame) {
    if (frame.conversation_id !== state.selected || frame.sender_role === 'admin') return;
    $('typing').textContent = 'The customer is typing…';
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(() => {
      $('typing').textContent = '';
    }, TYPING_SHOWN_MS);
  }

  const showError = (text) => ($('chat-error').textContent = text);

  function sendReply() {
    const body = $('reply').value;
    if (!body.trim() || !state.selected) return;
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    const clientId = `console-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
    const frame = { type: 'message', conversation_id: state.selected, body, client_id: clientId };
    state.outbox.set(clientId, frame);
    $('reply').value = '';
    $('chat-error').textContent = '';
    // Sent now (unless earlier ones wait to be sent again: it goes after
    // them), or after the next reconnect; the server stores a client_id once.
    if (!state.resendTimer) send(frame);
    renderChat();
  }

  $('reply-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sendReply();
  });

  $('reply').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
      return;
    }
    const now = Date.now();
    if (state.selected && now - state.typedAt > TYPING_EVERY_MS) {
      state.typedAt = now;
      send({ type: 'typing', conversation_id: state.selected });
    }
  });

  $('close-conversation').addEventListener('click', async () => {
    const id = state.selected;
    if (!id) return;
    try {
      upsertConversation(await api('PATCH', `/support/conversations/${encodeURIComponent(id)}`, { status: 'closed' }));
    } catch (err) {
      showError(err.message);
    }
    renderConversations();
    renderChat();
  });

  $('load-earlier').addEventListener('click', async () => {
    const conv = state.selected && state.conversations.get(state.selected);
    if (!conv || !conv.messages.size) return;
    try {
      await loadHistory(conv, Math.min(...conv.messages.keys()));
    } catch (err) {
      showError(err.message);
    }
  });

  // ---------- the order board ----------

  /**
   * Keeps what the board learned of an order: the latest change (the
   * highest version; frames can arrive out of order), and a deletion for
   * good. A finished (completed, cancelled) or deleted one leaves the board
   * but is remembered until the next list read, so that an older frame
   * arriving late does not bring it back.
   */
  function upsertOrder(order) {
    const held = state.orders.get(order.id);
    if (held && (held.deleted || (!order.deleted && isLater(held, order)))) return;
    const { id, number, status, updated_at, version } = order;
    const deleted = Boolean(order.deleted);
    state.orders.set(id, { id, number, status, updated_at, version, deleted, learned: ++state.learned });
  }

  /** Whether `a` is a later state of an order than `b`: by version, when both carry one (0: unknown). */
  function isLater(a, b) {
    if (a.version && b.version) return a.version > b.version;
    return instant(a.updated_at) > instant(b.updated_at);
  }

  async function loadOrders() {
    const asked = state.learned;
    const page = await api(
      'GET',
      `/orders?status__in=pending,confirmed,preparing,ready&sort=-created_at&page_size=${BOARD_ROWS}`,
    );
    for (const order of page.items) upsertOrder(order);
    // The board holds the open orders: one that was finished, cancelled or
    // deleted while the socket was down leaves it (when all fit on a page;
    // one the socket told of while the list was read is newer than the list).
    // SIMPLIFICATION: the board shows the newest BOARD_ROWS open orders; a
    // shop with more open at once would page through them.
    const open = new Set(page.items.map((o) => o.id));
    const complete = page.total <= page.items.length;
    for (const order of state.orders.values()) {
      const gone = order.deleted || FINAL_STATUSES.has(order.status) || (complete && !open.has(order.id));
      if (gone && order.learned <= asked) state.orders.delete(order.id);
    }
    renderOrders();
  }

  /** An RFC 3339 instant as the server writes it (UTC, 0–9 fraction digits) in a form that sorts as text. */
  function instant(iso) {
    return String(iso || '').replace(/(\.\d+)?(Z|[+-]00:00)$/, (_, fraction) => `${(fraction || '.').padEnd(10, '0')}Z`);
  }

  function renderOrders() {
    const rows = [...state.orders.values()]
      .filter((order) => !order.deleted && !FINAL_STATUSES.has(order.status))
      .sort((a, b) => b.number - a.number)
      .slice(0, BOARD_ROWS);
    $('orders')
      .querySelector('tbody')
      .replaceChildren(
        ...rows.map((order) => {
          const tr = document.createElement('tr');
          tr.dataset.orderId = order.id;
          tr.dataset.number = String(order.number);
          tr.className = `order-${order.status}`;
          for (const text of [`#${order.number}`, order.status, timeOf(order.updated_at)]) {
            const td = document.createElement('td');
            td.textContent = text;
            tr.append(td);
          }
          return tr;
        }),
      );
  }

  function timeOf(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
})();
