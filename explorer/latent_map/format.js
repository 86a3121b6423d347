// Numbers as the map writes them: slider values, tick labels and codes in captions.

/** Two decimals; a value that would read -0.00 reads 0.00. */
export function fmt(v) {
  return (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
}

/** A code's first four coordinates, then "…" when it has more: "0.12, -1.30, 0.00, 2.05, …". */
export function fmtCode(z) {
  return Array.from(z.slice(0, 4), fmt).join(", ") + (z.length > 4 ? ", …" : "");
}
