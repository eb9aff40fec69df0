// AssemblyScript entry of the relaxed-SIMD build: the shared ops plus the relaxed dot kernels.
export * from './common';
export * from './dot-relaxed';
