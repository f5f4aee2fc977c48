/** Endpoints given as one string, several separated by commas (`tcp://r1:55055,tcp://r2:55055`). */
export function splitEndpoints(uri: string): string[] {
  return uri
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}
