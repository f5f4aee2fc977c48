/**
 * Wait for `work` at most `ms`: true when it settled in time (its result or error is
 * the caller's to get from `work`), false when the time ran out. The timer is cleared
 * either way; `work` goes on in the background.
 */
export async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    const settled = work.then(
      () => true,
      () => true,
    );
    return await Promise.race([settled, late]);
  } finally {
    clearTimeout(timer);
  }
}
