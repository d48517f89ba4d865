/**
 * Live pokes over `GET /v1/sync/live` (WebSocket). The first message authenticates
 * ({"type": "auth", "token": …}); then `ready` and `poke` messages carry a rev, and a rev
 * above what we last pulled means "pull now". A poke only says that: data always comes by
 * pull, so a lost poke costs latency, never data. Reconnects with capped, jittered backoff,
 * at once when the browser comes back online, with a refreshed token after a 4401 close.
 */

import { accessToken } from './api.js';

export class Live {
  /** @param {(rev: number) => void} onRev called for `ready` and `poke` */
  constructor(onRev, onState = () => {}) {
    this.onRev = onRev;
    this.onState = onState;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.running = false;
    this.refresh = false;
    this.connected = false;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.onlineHandler = () => { this.attempt = 0; this.connect(); };
    this.offlineHandler = () => this.close();
    addEventListener('online', this.onlineHandler);
    addEventListener('offline', this.offlineHandler);
    this.connect();
  }

  stop() {
    this.running = false;
    removeEventListener('online', this.onlineHandler);
    removeEventListener('offline', this.offlineHandler);
    this.close();
  }

  close() {
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.setConnected(false);
  }

  setConnected(value) {
    if (this.connected !== value) { this.connected = value; this.onState(value); }
  }

  async connect() {
    clearTimeout(this.timer);
    if (!this.running || this.ws) return;
    if (!navigator.onLine) return; // the `online` event brings us back
    let token;
    try {
      token = await accessToken({ refresh: this.refresh });
    } catch {
      token = null;
    }
    if (!token || !this.running || this.ws) { this.retry(); return; }
    this.refresh = false;
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/sync/live`;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (event) => {
      let msg;
      try { msg = JSON.parse(event.data); } catch { return; }
      if (msg.type === 'ready') { this.attempt = 0; this.setConnected(true); }
      if ((msg.type === 'ready' || msg.type === 'poke') && Number.isInteger(msg.rev)) this.onRev(msg.rev);
      if (msg.type === 'error' && msg.error?.code === 'unauthenticated') this.refresh = true;
    };
    ws.onclose = (event) => {
      if (this.ws === ws) this.ws = null;
      this.setConnected(false);
      if (event.code === 4401) this.refresh = true;
      this.retry();
    };
  }

  retry() {
    if (!this.running) return;
    clearTimeout(this.timer);
    const base = Math.min(30000, 1000 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }
}
