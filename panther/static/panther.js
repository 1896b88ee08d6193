// panther browser client: a WebSocket that survives network drops.
//
// Served by every panther app at /_panther/panther.js (WS_CLIENT_PATH). No dependencies.
// It speaks the `panther.v1` session protocol (docs/protocol.md): after a drop it reconnects
// with backoff and full jitter, resumes the session (same connectionId, every message once and
// in order) and sends what was queued meanwhile.
//
//   import { connect } from '/_panther/panther.js';
//   const ws = connect(`/ws/chat/lobby/`, { token });
//   ws.addEventListener('message', (event) => console.log(event.data));
//   ws.send({ type: 'say', text: 'hello' });
//
// Events (all on the returned object, an EventTarget; `on<name>` properties work too):
//   open     a session began (event.detail: { connectionId }); again after a `gap`
//   message  event.data: a string (text frame) or an ArrayBuffer (binary frame)
//   resumed  the session came back after a drop (event.detail: { connectionId })
//   gap      messages may have been missed (event.detail: { reason, connectionId }): the old
//            session could not be resumed (reason from the server: expired, overflow, invalid,
//            replayed, user, unavailable), the server ended it with a restart code ('closed'),
//            or the server does not speak panther.v1 ('plain')
//   reconnecting  a reconnect is scheduled (event.detail: { attempt, delay })
//   close    the client is done for good (event.code, event.reason): close() was called, or the
//            server closed the session with a code that does not invite a reconnect

export const PROTOCOL = 'panther.v1';

// Server close codes after which a new session is opened by itself (going away, restart, try later).
const RECONNECT_CODES = new Set([1001, 1012, 1013]);

const defaults = {
  token: null,            // sent as the `tokenParam` query parameter (browsers cannot set headers)
  tokenParam: 'authorization',
  maxQueue: 1000,         // sends kept while (re)connecting; one more throws
  minDelay: 250,          // ms: first reconnect delay cap; doubles per attempt
  maxDelay: 10000,        // ms: reconnect delay cap
  ackDelay: 250,          // ms: acknowledge at most this long after a message
  WebSocket: globalThis.WebSocket,
};

function absoluteUrl(url) {
  const resolved = new URL(url, globalThis.location ? globalThis.location.href : undefined);
  if (resolved.protocol === 'http:') resolved.protocol = 'ws:';
  if (resolved.protocol === 'https:') resolved.protocol = 'wss:';
  return resolved;
}

function encode(data) {
  if (typeof data === 'string') return { text: data };
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data) || (globalThis.Blob && data instanceof Blob)) {
    return { binary: data };
  }
  return { text: JSON.stringify(data === undefined ? null : data) };
}

export class PantherSocket extends EventTarget {
  constructor(url, options = {}) {
    super();
    this.options = { ...defaults, ...options };
    this.url = absoluteUrl(url);
    this.connectionId = null;
    this.mode = null;           // 'session' or 'plain' once the first connection opened
    this.state = 'connecting';  // connecting | open | reconnecting | closed
    this._socket = null;
    this._queue = [];
    this._credential = null;
    this._last = 0;             // highest sequence number received
    this._acked = 0;            // highest sequence number acknowledged
    this._window = 0;           // seconds the server keeps a detached session
    this._buffer = 1000;
    this._ackTimer = null;
    this._retryTimer = null;
    this._attempt = 0;
    this._droppedAt = null;
    this._welcomed = false;
    this._pendingGap = null;   // a gap to announce with the next `open`
    this._open();
  }

  /** Send `data`: a string as text, an ArrayBuffer/typed array/Blob as binary, anything else as JSON text.
   *  While (re)connecting it is queued (at most `maxQueue` sends; throws past that). */
  send(data) {
    if (this.state === 'closed') throw new Error('panther: send() after close()');
    const frame = encode(data);
    if (this.state === 'open') {
      this._write(frame);
      return;
    }
    if (this._queue.length >= this.options.maxQueue) {
      throw new Error(`panther: ${this.options.maxQueue} sends already queued while reconnecting`);
    }
    this._queue.push(frame);
  }

  /** End the session for good (a normal close: the server runs `disconnect`). */
  close(code = 1000, reason = '') {
    if (this.state === 'closed') return;
    this._finish(code, reason);
    if (this._socket) {
      try { this._socket.close(code, reason); } catch { this._socket.close(); }
    }
  }

  get bufferedAmount() { return this._socket ? this._socket.bufferedAmount : 0; }

  // -- connection ---------------------------------------------------------------------------

  _open() {
    const url = new URL(this.url);
    if (this.options.token) url.searchParams.set(this.options.tokenParam, this.options.token);
    if (this._credential) {
      url.searchParams.set('panther_resume', this._credential);
      url.searchParams.set('panther_seq', String(this._last));
    }
    const socket = new this.options.WebSocket(url.href, [PROTOCOL]);
    socket.binaryType = 'arraybuffer';
    this._socket = socket;
    this._welcomed = false;
    socket.onopen = () => this._opened(socket);
    socket.onmessage = (event) => this._received(socket, event.data);
    socket.onclose = (event) => this._closed(socket, event);
  }

  _opened(socket) {
    if (socket !== this._socket) return;
    if (socket.protocol !== PROTOCOL) {
      // The server does not offer sessions here: plain frames, and a drop loses what was in flight.
      const wasSession = this._credential !== null;
      this.mode = 'plain';
      this._credential = null;
      this._ready();
      if (wasSession || this._attempt > 0) this._emit('gap', { reason: 'plain', connectionId: null });
      this._emit('open', { connectionId: null });
    }
    // In session mode the `welcome` frame, not the handshake, opens the session.
  }

  _received(socket, data) {
    if (socket !== this._socket) return;
    if (this.mode === 'plain' && socket.protocol !== PROTOCOL) {
      this._dispatchMessage(data);
      return;
    }
    if (typeof data === 'string') {
      if (data.charCodeAt(0) === 123 /* { */) {
        this._control(JSON.parse(data));
        return;
      }
      const colon = data.indexOf(':');
      if (colon <= 0) return;
      this._data(Number(data.slice(0, colon)), data.slice(colon + 1));
    } else {
      if (data.byteLength < 8) return;
      const seq = Number(new DataView(data).getBigUint64(0));
      this._data(seq, data.slice(8));
    }
  }

  _control(message) {
    if (message.type !== 'welcome') return;  // unknown control frames are ignored (protocol section 2)
    const fresh = message.connection_id !== this.connectionId;
    const hadSession = this._credential !== null;
    this.mode = 'session';
    this._credential = message.resume;
    this._window = message.window;
    this._buffer = message.buffer || this._buffer;
    this.connectionId = message.connection_id;
    if (message.resumed) {
      this._last = message.seq;
    } else {
      this._last = 0;
    }
    this._acked = -1;
    this._welcomed = true;
    this._ack();  // confirms we hold the new credential
    this._ready();
    if (message.resumed && !fresh) {
      this._emit('resumed', { connectionId: this.connectionId });
    } else {
      if (message.lost || (hadSession && fresh)) {
        this._emit('gap', { reason: message.lost || 'expired', connectionId: this.connectionId });
      }
      this._emit('open', { connectionId: this.connectionId });
    }
  }

  _data(seq, payload) {
    if (!this._welcomed || seq !== this._last + 1) return;  // never deliver a duplicate
    this._last = seq;
    this._scheduleAck();
    this._dispatchMessage(payload);
  }

  _dispatchMessage(data) {
    this.dispatchEvent(new MessageEvent('message', { data }));
    const handler = this.onmessage;
    if (typeof handler === 'function') handler.call(this, new MessageEvent('message', { data }));
  }

  _ready() {
    this.state = 'open';
    this._attempt = 0;
    this._droppedAt = null;
    const queued = this._queue;
    this._queue = [];
    for (const frame of queued) this._write(frame);
  }

  _write(frame) {
    const socket = this._socket;
    if (frame.binary !== undefined) {
      socket.send(frame.binary);
    } else if (this.mode === 'session') {
      socket.send('D' + frame.text);
    } else {
      socket.send(frame.text);
    }
  }

  _scheduleAck() {
    const pending = this._last - this._acked;
    if (pending >= Math.max(1, Math.floor(this._buffer / 4))) {
      this._ack();
    } else if (this._ackTimer === null) {
      this._ackTimer = setTimeout(() => { this._ackTimer = null; this._ack(); }, this.options.ackDelay);
    }
  }

  _ack() {
    if (this._ackTimer !== null) { clearTimeout(this._ackTimer); this._ackTimer = null; }
    const socket = this._socket;
    if (!socket || socket.readyState !== 1 || this._acked === this._last) return;
    socket.send('A' + this._last);
    this._acked = this._last;
  }

  _closed(socket, event) {
    if (socket !== this._socket) return;
    if (this._ackTimer !== null) { clearTimeout(this._ackTimer); this._ackTimer = null; }
    if (this.state === 'closed') return;
    // 1006: the connection dropped without a close frame (or the handshake failed): resume.
    // A close frame from the server ends the session; a restart-like code invites a new one.
    const dropped = event.code === 1006;
    if (!dropped) {
      if (this._welcomed || this.mode === 'plain') {
        if (!RECONNECT_CODES.has(event.code)) {
          this._finish(event.code, event.reason);
          return;
        }
        this._credential = null;  // the server ended the session; the next one is new
        this._pendingGap = 'closed';
      } else if (!RECONNECT_CODES.has(event.code)) {
        this._finish(event.code, event.reason);  // refused during the handshake with a reason
        return;
      }
    }
    this.state = 'reconnecting';
    if (this._droppedAt === null) this._droppedAt = Date.now();
    const attempt = this._attempt++;
    const cap = Math.min(this.options.maxDelay, this.options.minDelay * 2 ** attempt);
    const delay = Math.random() * cap;  // full jitter
    this._emit('reconnecting', { attempt: attempt + 1, delay });
    this._retryTimer = setTimeout(() => { this._retryTimer = null; if (this.state !== 'closed') this._open(); },
                                  delay);
  }

  _finish(code, reason) {
    this.state = 'closed';
    if (this._retryTimer !== null) { clearTimeout(this._retryTimer); this._retryTimer = null; }
    if (this._ackTimer !== null) { clearTimeout(this._ackTimer); this._ackTimer = null; }
    const event = new CloseEvent('close', { code, reason, wasClean: true });
    this.dispatchEvent(event);
    if (typeof this.onclose === 'function') this.onclose.call(this, event);
  }

  _emit(name, detail) {
    if (name === 'open' && this._pendingGap) {
      const reason = this._pendingGap;
      this._pendingGap = null;
      this._emit('gap', { reason, connectionId: this.connectionId });
    }
    const event = new CustomEvent(name, { detail });
    this.dispatchEvent(event);
    const handler = this['on' + name];
    if (typeof handler === 'function') handler.call(this, event);
  }
}

/** Open a session to `url` (absolute, or relative to the page: http(s) becomes ws(s)).
 *  Options: token, tokenParam ('authorization'), maxQueue (1000), minDelay (250 ms),
 *  maxDelay (10 s), ackDelay (250 ms). Returns a PantherSocket. */
export function connect(url, options = {}) {
  return new PantherSocket(url, options);
}
