// A map's plane in the latent space: z = mean + x·axes[0] + y·axes[1] (the codes' two principal axes
// for d > 2; for d = 2 the identity), a code's place in it, q(z|x)'s ellipses in it, and straight
// paths between codes. `plane` is {mean, axes: [a, b]} as the page sends it.

/** The latent point of the plane point (x, y). */
export function planeToLatent(plane, x, y) {
  const { mean, axes } = plane;
  const z = new Float32Array(mean.length);
  for (let i = 0; i < z.length; i++) z[i] = mean[i] + x * axes[0][i] + y * axes[1][i];
  return z;
}

/** A latent point's projection on the plane, [x, y]; missing coordinates count as 0. */
export function latentToPlane(plane, z) {
  const { mean, axes } = plane;
  let x = 0, y = 0;
  for (let i = 0; i < mean.length; i++) {
    const c = (z[i] ?? 0) - mean[i];
    x += c * axes[0][i];
    y += c * axes[1][i];
  }
  return [x, y];
}

/** The k-sigma ellipse of q(z|x) = N(mu, diag(exp(logvar))) in a map's plane, as
 * vae_core.analysis.geometry.posterior_ellipse: centre A(mu - mean), covariance A diag(exp(logvar)) Aᵀ,
 * drawn as centre + k L (cos t, sin t) with L its Cholesky factor. A closed polyline of `n` points. */
export function posteriorEllipse(mu, logvar, plane, k, n = 48) {
  const { mean, axes } = plane, [a, b] = axes;
  let cx = 0, cy = 0, sxx = 0, sxy = 0, syy = 0;
  for (let i = 0; i < mean.length; i++) {
    const c = mu[i] - mean[i], v = Math.exp(logvar[i]);
    cx += a[i] * c;
    cy += b[i] * c;
    sxx += a[i] * a[i] * v;
    sxy += a[i] * b[i] * v;
    syy += b[i] * b[i] * v;
  }
  const l11 = Math.sqrt(sxx), l21 = sxy / l11, l22 = Math.sqrt(Math.max(syy - l21 * l21, 0));
  const out = [];
  for (let j = 0; j < n; j++) {
    const t = (2 * Math.PI * j) / (n - 1), u = Math.cos(t), w = Math.sin(t);
    out.push([cx + k * l11 * u, cy + k * (l21 * u + l22 * w)]);
  }
  return out;
}

/** `steps` latent points evenly from `from` to `end` (both included), each as long as `end`;
 * coordinates `from` lacks count as 0. */
export function linearPath(from, end, steps) {
  const out = [];
  for (let k = 0; k < steps; k++) {
    const t = k / (steps - 1), z = new Float32Array(end.length);
    for (let i = 0; i < z.length; i++) z[i] = (1 - t) * (from[i] ?? 0) + t * end[i];
    out.push(z);
  }
  return out;
}
