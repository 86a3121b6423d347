// What the map fetches: the files the page publishes once per model version (explorer/webcache.py),
// and the test codes' file read as points and labels.

/** A published file's URL. Files are published under app/static/ relative to the app's base path (also
 * behind a proxy with --server.baseUrlPath); the page's path is that base for this one-page app. */
export function absoluteUrl(relative, location = window.location) {
  const path = location.pathname.endsWith("/") ? location.pathname : location.pathname + "/";
  return new URL(relative, location.origin + path).toString();
}

export async function fetchBytes(url) {
  const response = await fetch(absoluteUrl(url));
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

export async function fetchJson(url) {
  const response = await fetch(absoluteUrl(url));
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

/** The test codes' file (explorer/latent_map points_file): `n` float32 (x, y) pairs in the map's plane,
 * then their `n` uint16 labels. Views on `buffer`, not copies. */
export function readPoints(buffer, n) {
  return { points: new Float32Array(buffer, 0, 2 * n), labels: new Uint16Array(buffer, 8 * n, n) };
}

/** A published picture as an Image; `onload(image)` once it has loaded. */
export function loadImage(url, onload) {
  const image = new Image();
  image.onload = () => onload(image);
  image.src = absoluteUrl(url);
  return image;
}
