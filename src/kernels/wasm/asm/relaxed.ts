// AssemblyScript entry of the relaxed-SIMD build: the shared ops plus the relaxed dot kernels.
export * from './common';
export * from './attention';
export * from './attention-q';
export * from './dot-relaxed';
export * from './gemm';
export * from './dense';
export * from './lut';
