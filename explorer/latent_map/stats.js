// The map's counters and per-frame timings, for the browser tests and the benchmarks. Shown as
// window.__vaeLatentMap (with `instance`, the map itself) only when the server runs under test
// (VAE_TEST_HOOKS=1 sends data.testHooks): never in production.

export const STATS_LIMIT = 2000; // frames kept: the latest
// One per page: every mounted map counts here.
export const STATS = { frames: [], decodes: 0, encodes: 0, sent: 0, ready: false, mode: "", errors: [] };

export function exposeTestHooks(map) {
  STATS.instance = map;
  window.__vaeLatentMap = STATS;
}

/** Append `frame`, keeping the latest `limit` frames. */
export function pushFrame(frames, frame, limit = STATS_LIMIT) {
  frames.push(frame);
  if (frames.length > limit) frames.splice(0, frames.length - limit);
}

/** Per redraw, the time from the input event to the drawn canvases (ms): `mark` when a handler starts,
 * `record` once it has drawn; the decoding and encoding time spent meanwhile is added to `decodeMs`
 * and `encodeMs`. */
export class FrameClock {
  constructor(stats) {
    this.stats = stats;
    this.eventWait = 0;
    this.decodeMs = 0;
    this.encodeMs = 0;
  }

  mark(event) {
    // The handler's start (what the frame's work is timed from) and how long the event waited for
    // it (Chromium delivers pointer moves aligned to frames), recorded beside each frame.
    const now = performance.now();
    this.eventWait = event ? Math.max(0, now - event.timeStamp) : 0;
    return now;
  }

  record(reason, t0) {
    const ms = performance.now() - t0;
    pushFrame(this.stats.frames, { reason, ms, sinceEvent: ms + (this.eventWait || 0), decodeMs: this.decodeMs || 0,
                                   encodeMs: this.encodeMs || 0 });
    this.decodeMs = 0;
    this.encodeMs = 0;
    this.eventWait = 0;
  }
}
