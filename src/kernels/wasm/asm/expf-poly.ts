// AssemblyScript: the constants of the shared expf (kernels/math.ts): ln 2 split in two and the polynomial,
// used by common.ts's scalar expf and attention.ts's four-lane one; imported, not exported from the entries.
export const LOG2E: f32 = 1.44269504088896341;
export const LN2_HI: f32 = 0.693359375;
export const LN2_LO: f32 = -2.12194440e-4;
export const P0: f32 = 1.9875691500e-4;
export const P1: f32 = 1.3981999507e-3;
export const P2: f32 = 8.3334519073e-3;
export const P3: f32 = 4.1665795894e-2;
export const P4: f32 = 1.6666665459e-1;
export const P5: f32 = 5.0000001201e-1;
