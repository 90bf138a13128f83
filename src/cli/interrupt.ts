/**
 * Ctrl-C (and SIGTERM) for long commands: the first cancels through an AbortSignal, so the current
 * engine process group is stopped and its run stored as cancelled; a second one exits at once.
 */
export function interruptible(message: string): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\n${message} (Ctrl-C again to force)…\n`);
      controller.abort();
    } else process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
