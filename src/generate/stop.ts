// Stop strings for streamed text: text that could still be the start of a stop string is held back until
// it either completes the stop (and is dropped, with everything after it) or can no longer match.
export class StopMatcher {
  private pending = '';
  stopped = false;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds generated text; returns the text that is safe to emit now. */
  push(text: string): string {
    if (this.stopped) return '';
    this.pending += text;
    if (this.stops.length === 0) {
      const out = this.pending;
      this.pending = '';
      return out;
    }
    // the stop that is completed first (smallest end; on a tie the longer one), which does not depend on how
    // the text was split into pieces: an overlapping stop that starts earlier but ends later never wins
    let first = -1;
    let firstEnd = Infinity;
    for (const s of this.stops) {
      if (s === '') continue;
      const i = this.pending.indexOf(s);
      if (i >= 0 && (i + s.length < firstEnd || (i + s.length === firstEnd && i < first))) {
        first = i;
        firstEnd = i + s.length;
      }
    }
    if (first >= 0) {
      this.stopped = true;
      const out = this.pending.slice(0, first);
      this.pending = '';
      return out;
    }
    // hold back the longest suffix that is a prefix of some stop string
    let hold = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > hold; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** End of generation: whatever was held back is not a stop and is emitted. */
  flush(): string {
    const out = this.stopped ? '' : this.pending;
    this.pending = '';
    return out;
  }
}
