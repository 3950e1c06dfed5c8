/**
 * What an emulator received, in arrival order, for a test to inspect: the `requests` (or `rpcs`) it
 * exposes. An entry is recorded as the request arrives and filled in as it goes (its status once
 * answered). With recording off, nothing is kept and memory stays flat.
 */
export class RequestLog<Entry> {
  /** The same array for the emulator's whole life: `clear()` empties it in place. */
  readonly entries: Entry[] = [];

  constructor(private readonly recording = true) {}

  /** Records `entry` (when recording) and returns it, for the emulator to fill in. */
  add(entry: Entry): Entry {
    if (this.recording) this.entries.push(entry);
    return entry;
  }

  clear(): void {
    this.entries.length = 0;
  }
}
