// Polling for what the extension shows asynchronously (status bar, messages, server replies).

/** Resolves with the first value of `probe` that is neither undefined nor false; on timeout, rejects saying what was awaited. */
export async function waitUntil<T>(
  what: string,
  probe: () => T | undefined | false,
  { timeoutMs = 15_000, explain = () => '' }: { timeoutMs?: number; explain?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}; ${explain()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
