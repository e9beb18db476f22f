// Types for random.mjs (a plain-JS module so the scripts run without a build step; TypeScript tests import it).

/**
 * mulberry32: returns a function giving uniformly distributed numbers in [0, 1), the same sequence for the same
 * seed (only its low 32 bits count).
 */
export declare function seededRandom(seed: number): () => number;
