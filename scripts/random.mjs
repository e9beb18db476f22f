// A small seeded pseudo-random generator shared by the demo traffic, the alert scenarios and the test fixtures,
// so a run with the same seed produces the same traffic every time.

/**
 * mulberry32: returns a function giving uniformly distributed numbers in [0, 1), the same sequence for the same
 * seed (only its low 32 bits count).
 */
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
