// AssemblyScript entry of the portable SIMD128 build: the shared ops plus the portable dot kernels.
export * from './common';
export * from './attention';
export * from './attention-q';
export * from './dot-simd';
export * from './gemm';
export * from './dense';
export * from './lut';
