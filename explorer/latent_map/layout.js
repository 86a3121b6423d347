// How the component is laid out for the width it has: the maps' size and the decoded panel's width.

/** The layout for a component `width` pixels wide showing `n` maps, in a window `windowHeight` high.
 * Narrow screens (a phone, a half window): maps one under the other, the decoded images in a row below
 * them; otherwise the decoded images beside the maps, so both are seen together, and at most two maps
 * a row. A map is at most 0.82 times as high as it is wide, and half the window's height or 240 px. */
export function mapLayout(width, n, windowHeight) {
  const narrow = width < 760;
  const panelWidth = narrow ? width : Math.min(190, Math.max(130, width * 0.16));
  const perRow = narrow ? 1 : Math.min(n, 2);
  const available = narrow ? width : width - panelWidth - 16;
  const mapWidth = Math.max(200, Math.floor((available - 12 * (perRow - 1)) / perRow));
  const mapHeight = Math.round(Math.min(mapWidth * 0.82, Math.max(240, windowHeight * 0.5)));
  return { narrow, panelWidth, perRow, mapWidth, mapHeight };
}
