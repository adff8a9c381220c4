// Where live updates come from. The dashboard only calls feed.watch(key, load, apply) and
// feed.unwatch(key); `apply` receives a snapshot (charge points, a session) or the items that
// are new since the last call (meter samples, OCPP frames). Today the PollingFeed runs every
// watched `load` about once a second. A feed built on EventSource
// (GET /twin/charge-point/{id}/events?token=...) can replace it by calling the same `apply`
// functions from its events, without touching the views.

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
