// The band of a cosine from the server's thresholds (/playground/info lists them best first).

export function bandOf(score, bands) {
  return bands.find((b) => score >= b.min).name;
}
