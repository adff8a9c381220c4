// Where live updates come from. The dashboard only calls feed.watch(key, load, apply) and
// feed.unwatch(key); `apply` receives a snapshot (charge points, a session) or the items that
// are new since the last call (meter samples, OCPP frames). The PollingFeed runs every
// watched `load` about once a second; the StreamedFeed runs them as soon as the user's event
// stream (GET /twin/events) says something happened, and polls slowly only as a safety net.

export class PollingFeed {
  constructor(intervalMs = 1000) {
    this.intervalMs = intervalMs;
    this.watches = new Map();
    this.timer = null;
    this.running = false;
    this.onError = () => {};
    this.onTick = () => {};
  }

  /** Run `load()` on every tick and hand its result to `apply`; replaces a watch of `key`. */
  watch(key, load, apply) {
    this.watches.set(key, { load, apply });
    this.kick();
  }

  unwatch(key) {
    this.watches.delete(key);
  }

  start() {
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.kick();
    }
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.watches.clear();
  }

  /** Refresh now, e.g. after an action changed something. */
  kick() {
    if (this.timer !== null) queueMicrotask(() => this.tick());
  }

  async tick() {
    // Only what is on screen: a hidden tab asks nothing, and a slow answer is not overtaken.
    if (this.running || document.hidden) return;
    this.running = true;
    try {
      await Promise.all(
        [...this.watches].map(async ([key, watch]) => {
          try {
            const data = await watch.load();
            if (this.watches.get(key) === watch) watch.apply(data);
          } catch (error) {
            this.onError(error);
          }
        }),
      );
      this.onTick();
    } finally {
      this.running = false;
    }
  }
}

/**
 * Refreshes on the user's live event stream: each event (a frame, a status, a meter sample)
 * triggers one refresh of what is watched, gathered over `gatherMs`, so a busy charge point
 * costs a few reads a second, not one per event. While the stream is down (EventSource
 * reconnects by itself) it polls at the fallback interval.
 */
export class StreamedFeed extends PollingFeed {
  constructor(streamUrl, { gatherMs = 200, fallbackMs = 1000, safetyMs = 5000 } = {}) {
    super(fallbackMs);
    this.streamUrl = streamUrl;
    this.gatherMs = gatherMs;
    this.fallbackMs = fallbackMs;
    this.safetyMs = safetyMs;
    this.source = null;
    this.pending = null;
  }

  start() {
    super.start();
    if (this.source !== null) return;
    this.source = new EventSource(this.streamUrl());
    this.source.onopen = () => this.setInterval(this.safetyMs);
    this.source.onerror = () => this.setInterval(this.fallbackMs);
    this.source.onmessage = () => {
      if (this.pending === null) {
        this.pending = setTimeout(() => {
          this.pending = null;
          this.kick();
        }, this.gatherMs);
      }
    };
  }

  stop() {
    if (this.source !== null) this.source.close();
    this.source = null;
    clearTimeout(this.pending);
    this.pending = null;
    super.stop();
  }

  setInterval(ms) {
    if (this.intervalMs === ms || this.timer === null) return;
    this.intervalMs = ms;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), ms);
  }
}
