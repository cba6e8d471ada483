/**
 * Lifetime signing of impact parameters, as the reference conversion does it (ATLAS DIPS
 * convention): d0 gets the sign of (J x T) . (T x (-D)), z0 the sign of z0 * (eta_jet - eta_trk).
 *
 * @module
 */

/**
 * Lifetime-signed transverse impact parameter.
 *
 * @param d0 raw d0 (any sign), @param z0 raw z0; track (pt, eta, phi), jet (pt, eta, phi).
 * @example
 * ```ts
 * import { signedD0 } from "@mpm/webgpu/data";
 * console.assert(Math.abs(signedD0(0.1, 0, 10, 0.1, 0.05, 500, 0, 0)) === 0.1);
 * ```
 */
export function signedD0(
  d0: number,
  z0: number,
  trkPt: number,
  trkEta: number,
  trkPhi: number,
  jetPt: number,
  jetEta: number,
  jetPhi: number,
): number {
  const tx = trkPt * Math.cos(trkPhi),
    ty = trkPt * Math.sin(trkPhi),
    tz = trkPt * Math.sinh(trkEta);
  const jx = jetPt * Math.cos(jetPhi),
    jy = jetPt * Math.sin(jetPhi),
    jz = jetPt * Math.sinh(jetEta);
  const dx = -d0 * Math.cos(trkPhi - Math.PI / 2),
    dy = -d0 * Math.sin(trkPhi - Math.PI / 2),
    dz = -z0;
  // a = J x T, b = T x (-D)
  const ax = jy * tz - jz * ty, ay = jz * tx - jx * tz, az = jx * ty - jy * tx;
  const bx = ty * dz - tz * dy, by = tz * dx - tx * dz, bz = tx * dy - ty * dx;
  return Math.abs(d0) * Math.sign(ax * bx + ay * by + az * bz);
}

/**
 * Lifetime-signed longitudinal impact parameter: |z0| * sign(z0 * (eta_jet - eta_trk)).
 *
 * @example
 * ```ts
 * import { signedZ0 } from "@mpm/webgpu/data";
 * console.assert(signedZ0(0.2, 0.5, 0.1) === 0.2 && signedZ0(0.2, 0.1, 0.5) === -0.2);
 * ```
 */
export function signedZ0(z0: number, jetEta: number, trkEta: number): number {
  return Math.abs(z0) * Math.sign(z0 * (jetEta - trkEta));
}
