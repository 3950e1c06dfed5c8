/**
 * Runs `write` after `latencyMs` (at once when 0): how an emulator delays its answers. The timer is
 * kept in `timers` so that closing the emulator drops answers still pending.
 */
export function afterLatency(latencyMs: number, timers: Set<NodeJS.Timeout>, write: () => void): void {
  if (latencyMs <= 0) {
    write();
    return;
  }
  const timer = setTimeout(() => {
    timers.delete(timer);
    write();
  }, latencyMs);
  timers.add(timer);
}
